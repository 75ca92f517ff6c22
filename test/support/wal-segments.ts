import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseWalFileName } from '../../agent/wal/names.ts';

// Synthetic WAL segments with a valid long page header, for tests of the
// checks around the data rather than of PostgreSQL itself.

export const SEGMENT_SIZE = 16 * 1024 * 1024;

export interface SegmentSpec {
  name: string;
  systemIdentifier?: bigint;
  /** Changes the body, so two segments of one name can differ. */
  variant?: string;
  magic?: number;
  size?: number;
  pageAddress?: bigint;
}

export function makeSegment(spec: SegmentSpec): Buffer {
  const file = parseWalFileName(spec.name);
  const buf = Buffer.alloc(spec.size ?? SEGMENT_SIZE);
  // Body: compressible but distinct per name and variant, like real WAL.
  const seed = createHash('sha256').update(`${spec.name}:${spec.variant ?? ''}`).digest();
  for (let off = 8192; off + seed.length <= buf.length; off += 4096) seed.copy(buf, off);
  // Every page starts with its header, as PostgreSQL writes them: the first one long.
  const start = spec.pageAddress ?? file.segNo! * BigInt(SEGMENT_SIZE);
  for (let page = 0; page + 24 <= buf.length; page += 8192) {
    buf.fill(0, page, page + 24);
    buf.writeUInt16LE(spec.magic ?? 0xd110, page);
    buf.writeUInt16LE(page === 0 ? 0x0002 : 0, page + 2);
    buf.writeUInt32LE(file.timeline, page + 4);
    buf.writeBigUInt64LE(start + BigInt(page), page + 8);
  }
  buf.writeBigUInt64LE(spec.systemIdentifier ?? 7_300_000_000_000_000_001n, 24);
  buf.writeUInt32LE(SEGMENT_SIZE, 32);
  buf.writeUInt32LE(8192, 36);
  return buf;
}

export async function writeSegment(dir: string, spec: SegmentSpec): Promise<string> {
  const path = join(dir, spec.name);
  await writeFile(path, makeSegment(spec));
  return path;
}
