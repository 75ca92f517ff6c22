import { open } from 'node:fs/promises';
import { WalshipError } from '../errors.ts';
import type { WalFileName } from './names.ts';

// What the first page of a WAL segment says about itself: enough to refuse
// a file that is not a finished segment of this cluster before archiving it,
// and to verify a restored one before PostgreSQL replays it.

/** XLOG_PAGE_MAGIC of each PostgreSQL major version. */
const PAGE_MAGIC: ReadonlyMap<number, number> = new Map([
  [0xd097, 10],
  [0xd098, 11],
  [0xd101, 12],
  [0xd106, 13],
  [0xd10d, 14],
  [0xd110, 15],
  [0xd113, 16],
  [0xd116, 17],
  [0xd118, 18],
]);
const XLP_LONG_HEADER = 0x0002;
export const LONG_HEADER_BYTES = 40;

export interface SegmentHeader {
  pgVersion: number;
  timeline: number;
  pageAddress: bigint;
  systemIdentifier: bigint;
  segmentSize: number;
  blockSize: number;
}

function notSegment(name: string, why: string): WalshipError {
  return new WalshipError('WAL_NOT_A_SEGMENT', `${name} is not a valid WAL segment: ${why}`, { details: { name } });
}

/** Parses XLogLongPageHeaderData (little-endian, as on every platform PostgreSQL ships for here). */
export function parseSegmentHeader(page: Buffer, name: string): SegmentHeader {
  if (page.length < LONG_HEADER_BYTES) throw notSegment(name, `shorter than a page header (${page.length} bytes)`);
  const magic = page.readUInt16LE(0);
  const pgVersion = PAGE_MAGIC.get(magic);
  if (pgVersion === undefined) throw notSegment(name, `unknown page magic 0x${magic.toString(16)}`);
  const info = page.readUInt16LE(2);
  if ((info & XLP_LONG_HEADER) === 0) throw notSegment(name, 'the first page has no long header');
  const segmentSize = page.readUInt32LE(32);
  const blockSize = page.readUInt32LE(36);
  if (segmentSize < 1024 * 1024 || segmentSize > 1024 * 1024 * 1024 || (segmentSize & (segmentSize - 1)) !== 0) {
    throw notSegment(name, `implausible segment size ${segmentSize}`);
  }
  return {
    pgVersion,
    timeline: page.readUInt32LE(4),
    pageAddress: page.readBigUInt64LE(8),
    systemIdentifier: page.readBigUInt64LE(24),
    segmentSize,
    blockSize,
  };
}

/**
 * Checks that a segment file (or its first page and total size) is the
 * segment its name says: right size, known magic, and a first page that
 * starts where the name's segment number puts it.
 */
export function checkSegment(file: WalFileName, header: SegmentHeader, size: number): void {
  if (size !== header.segmentSize) {
    throw notSegment(file.name, `size ${size} bytes, but its header says segments are ${header.segmentSize} bytes`);
  }
  if (file.segNo !== undefined && header.pageAddress !== file.segNo * BigInt(header.segmentSize)) {
    throw notSegment(file.name, `its first page is at 0x${header.pageAddress.toString(16)}, not where the name puts it (a recycled or misnamed file)`);
  }
}

export async function readSegmentHeader(path: string, file: WalFileName): Promise<{ header: SegmentHeader; size: number }> {
  const handle = await open(path, 'r').catch((err: unknown) => {
    throw new WalshipError('IO_FAILED', `cannot open ${path}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  });
  try {
    const { size } = await handle.stat();
    const page = Buffer.alloc(LONG_HEADER_BYTES);
    const { bytesRead } = await handle.read(page, 0, LONG_HEADER_BYTES, 0);
    const header = parseSegmentHeader(page.subarray(0, bytesRead), file.name);
    checkSegment(file, header, size);
    return { header, size };
  } finally {
    await handle.close();
  }
}
