import type { ObjectInfo } from '../storage/driver.ts';
import { WAL_PREFIX } from '../wal/layout.ts';
import { parseWalFileName, type WalFileKind } from '../wal/names.ts';

// WAL objects as retention sees them: a kind and a position. Positions are
// compared, never names: a name starts with its timeline, so after a
// timeline switch a needed segment (00000002...1E) sorts after segments of
// the old timeline that are older than it, and before newer ones.

/**
 * Names are parsed as if segments were 1 MiB, the smallest size PostgreSQL
 * allows: every real segment number fits, and (log id, segment) pairs keep
 * their order whatever the cluster's segment size was. Positions are only
 * ever compared with each other, so the unit does not matter.
 */
const ORDERING_SEGMENT_SIZE = 1024 * 1024;

/** Compression extensions walship and WAL-G write (.lzma and .xz only WAL-G). */
const EXTENSIONS = ['.lz4', '.zst', '.br', '.gz', '.lzma', '.xz'];

export interface WalObject {
  key: string;
  /** The WAL file name, without the compression extension. */
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** Segment position (history files have none). */
  position?: bigint;
}

/** The WAL file a key under wal_005/ holds, or undefined for keys that are not WAL (left alone). */
export function walObjectOf(key: string): WalObject | undefined {
  if (!key.startsWith(WAL_PREFIX)) return undefined;
  let name = key.slice(WAL_PREFIX.length);
  const ext = EXTENSIONS.find((e) => name.endsWith(e));
  if (ext !== undefined) name = name.slice(0, -ext.length);
  try {
    const parsed = parseWalFileName(name, ORDERING_SEGMENT_SIZE);
    return { key, name, kind: parsed.kind, timeline: parsed.timeline, ...(parsed.segNo === undefined ? {} : { position: parsed.segNo }) };
  } catch {
    return undefined;
  }
}

/** The position of a segment name (a backup's start WAL file), comparable with WalObject.position. */
export function segmentPosition(segmentName: string): bigint | undefined {
  try {
    return parseWalFileName(segmentName, ORDERING_SEGMENT_SIZE).segNo;
  } catch {
    return undefined;
  }
}

/** Oldest first: by position, then timeline, then name; history files last. */
export function compareWal(a: WalObject, b: WalObject): number {
  if (a.position === undefined || b.position === undefined) return a.position === undefined ? (b.position === undefined ? a.name.localeCompare(b.name) : 1) : -1;
  return a.position < b.position ? -1 : a.position > b.position ? 1 : a.timeline - b.timeline || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * Segments, .partial segments and .backup labels positioned below the
 * floor, on every timeline. History files are never chosen: a restore on a
 * later timeline needs them all, and they are tiny.
 */
export function walBelow(objects: readonly ObjectInfo[], floor: bigint): WalObject[] {
  const out: WalObject[] = [];
  for (const o of objects) {
    const wal = walObjectOf(o.key);
    if (wal?.position !== undefined && wal.kind !== 'history' && wal.position < floor) out.push(wal);
  }
  return out.sort(compareWal);
}

/** Every WAL object, history files included (delete everything). */
export function allWal(objects: readonly ObjectInfo[]): WalObject[] {
  return objects.flatMap((o) => walObjectOf(o.key) ?? []).sort(compareWal);
}
