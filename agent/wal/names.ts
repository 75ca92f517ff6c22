import { WalshipError } from '../errors.ts';

// The file names PostgreSQL hands to archive_command and restore_command.
// Anything else is refused before the store is touched: a name is part of
// an object key, and a key with '/' or '..' could reach outside wal_005/.

export type WalFileKind = 'segment' | 'history' | 'backup' | 'partial';

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  /** Timeline id (all kinds). */
  timeline: number;
  /** Segment number (segments, partial segments and backup labels). */
  segNo?: bigint;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** Segments per 4 GiB "log id", for a segment size. */
export function segmentsPerLogId(segmentSize: number): bigint {
  return 0x1_0000_0000n / BigInt(segmentSize);
}

export function parseWalFileName(name: string, segmentSize = 16 * 1024 * 1024): WalFileName {
  const bad = (why: string) =>
    new WalshipError('WAL_BAD_NAME', `${JSON.stringify(name)} is not a WAL file name: ${why}`, { details: { name } });
  if (name === '') throw bad('empty');
  if (name.includes('/') || name.includes('\\') || name.includes('..')) throw bad('path separators and ".." are not allowed');
  const history = HISTORY.exec(name);
  if (history) return { name, kind: 'history', timeline: parseInt(history[1]!, 16) };
  for (const [kind, re] of [['segment', SEGMENT], ['partial', PARTIAL], ['backup', BACKUP]] as const) {
    const m = re.exec(name);
    if (!m) continue;
    const timeline = parseInt(m[1]!, 16);
    const log = BigInt(parseInt(m[2]!, 16));
    const seg = BigInt(parseInt(m[3]!, 16));
    if (seg >= segmentsPerLogId(segmentSize)) throw bad(`segment part ${m[3]} is out of range for ${segmentSize}-byte segments`);
    if (timeline === 0) throw bad('timeline 0 does not exist');
    return { name, kind, timeline, segNo: log * segmentsPerLogId(segmentSize) + seg };
  }
  throw bad('expected a 24-hex-digit segment, TTTTTTTT.history, a .partial segment or a .backup label');
}

const hex8 = (n: number | bigint) => n.toString(16).toUpperCase().padStart(8, '0');

export function segmentName(timeline: number, segNo: bigint, segmentSize = 16 * 1024 * 1024): string {
  const per = segmentsPerLogId(segmentSize);
  return hex8(timeline) + hex8(segNo / per) + hex8(segNo % per);
}

/** The segment name holding an LSN, as pg_walfile_name() computes it. */
export function segmentNameForLsn(timeline: number, lsn: bigint, segmentSize = 16 * 1024 * 1024): string {
  return segmentName(timeline, lsn / BigInt(segmentSize), segmentSize);
}

export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new WalshipError('USAGE', `${JSON.stringify(text)} is not an LSN like 0/16B3748`);
  return (BigInt(parseInt(m[1]!, 16)) << 32n) | BigInt(parseInt(m[2]!, 16));
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
