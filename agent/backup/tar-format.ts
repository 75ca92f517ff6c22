// The tar format as backup parts use it: POSIX ustar headers, with a pax
// extended header for what ustar cannot hold (long paths, files of 8 GiB
// or more). Written by hand rather than through a tar library so that a
// worker thread can frame files straight into its compression buffers.
// Reading also accepts GNU long names, so parts from other tar writers work.

import { WalshipError } from '../errors.ts';

export const TAR_BLOCK = 512;
/** Two zero blocks end an archive. */
export const TAR_END_LENGTH = 2 * TAR_BLOCK;
/** Largest size the 11 octal digits of a ustar header hold. */
const USTAR_MAX_SIZE = 0o77777777777;

export interface TarFileHeader {
  path: string;
  size: number;
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
}

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'pax' | 'global-pax' | 'gnu-long-name' | 'gnu-long-link' | 'other';

export interface TarHeader {
  name: string;
  size: number;
  mode: number;
  mtime: number;
  type: TarEntryType;
  /** Target of a symbolic or hard link ('' for other entries). */
  linkname: string;
}

/** Bytes of padding after `size` bytes of entry data. */
export function tarPadding(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

/** The header block(s) of a regular file: one ustar block, preceded by a pax header when needed. */
export function encodeFileHeader(file: TarFileHeader): Buffer {
  const split = splitPath(file.path);
  const pax: string[] = [];
  if (split === undefined) pax.push(paxRecord('path', file.path));
  if (file.size > USTAR_MAX_SIZE) pax.push(paxRecord('size', String(file.size)));
  const block = ustarBlock(split ?? { prefix: '', name: Buffer.from(file.path).subarray(0, 100).toString('latin1') }, Math.min(file.size, USTAR_MAX_SIZE), file.mode, file.mtime, '0');
  if (pax.length === 0) return block;
  const records = Buffer.from(pax.join(''), 'utf8');
  const paxHeader = ustarBlock({ prefix: '', name: 'PaxHeader' }, records.length, 0o644, file.mtime, 'x');
  return Buffer.concat([paxHeader, records, Buffer.alloc(tarPadding(records.length)), block]);
}

/** ustar's type flags ('7', contiguous, is a regular file to every reader). */
const ENTRY_TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '5': 'directory',
  '2': 'symlink',
  '1': 'hardlink',
  x: 'pax',
  g: 'global-pax',
  L: 'gnu-long-name',
  K: 'gnu-long-link',
};

/** Decodes one header block; undefined for a zero block (the end of the archive). */
export function decodeHeader(block: Buffer, at: number): TarHeader | undefined {
  if (block.every((b) => b === 0)) return undefined;
  const recorded = parseOctal(block.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (recorded !== unsigned && recorded !== signed) throw corruptTar(at, 'header checksum mismatch');
  const name = cString(block.subarray(0, 100));
  const ustar = block.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = ustar ? cString(block.subarray(345, 500)) : '';
  const flag = String.fromCharCode(block[156]!);
  return {
    name: prefix === '' ? name : `${prefix}/${name}`,
    size: parseNumber(block.subarray(124, 136)),
    mode: parseOctal(block.subarray(100, 108)),
    mtime: parseNumber(block.subarray(136, 148)),
    type: ENTRY_TYPES[flag] ?? 'other',
    linkname: cString(block.subarray(157, 257)),
  };
}

/** The records of a pax extended header ("<length> <key>=<value>\n" each). */
export function decodePaxRecords(data: Buffer, at: number): Map<string, string> {
  const records = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    const length = space < 0 ? NaN : Number(data.subarray(i, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0 || i + length > data.length) throw corruptTar(at, 'malformed pax header');
    const record = data.subarray(space + 1, i + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq < 0) throw corruptTar(at, 'malformed pax record');
    records.set(record.slice(0, eq), record.slice(eq + 1));
    i += length;
  }
  return records;
}

export function corruptTar(at: number, what: string): WalshipError {
  return new WalshipError('BACKUP_CORRUPT', `not a valid tar stream at byte ${at} (${what}): the backup is damaged or was tampered with`, { details: { offset: at } });
}

/** ustar's prefix/name split at a '/', or undefined when the path does not fit. */
function splitPath(path: string): { prefix: string; name: string } | undefined {
  const bytes = Buffer.byteLength(path);
  if (bytes !== path.length) return undefined;
  if (bytes <= 100) return { prefix: '', name: path };
  for (let cut = path.indexOf('/'); cut >= 0; cut = path.indexOf('/', cut + 1)) {
    if (cut <= 155 && path.length - cut - 1 <= 100 && path.length - cut - 1 > 0) return { prefix: path.slice(0, cut), name: path.slice(cut + 1) };
  }
  return undefined;
}

function ustarBlock(path: { prefix: string; name: string }, size: number, mode: number, mtime: number, flag: string): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  block.write(path.name, 0, 100, 'latin1');
  writeOctal(block, 100, 8, mode & 0o7777);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.max(0, Math.floor(mtime)));
  block.write(flag, 156, 1, 'latin1');
  block.write('ustar\u000000', 257, 8, 'latin1');
  block.write(path.prefix, 345, 155, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  writeOctal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

/** Zero-padded octal in width - 1 digits and a NUL. */
function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body);
  // The length counts its own digits.
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return `${length}${body}`;
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

function parseOctal(field: Buffer): number {
  const text = field.toString('latin1').replace(/[\0 ]+$/g, '').replace(/^[ ]+/, '');
  return text === '' ? 0 : parseInt(text, 8);
}

/** Octal, or GNU's base-256 (high bit of the first byte set) for large values. */
function parseNumber(field: Buffer): number {
  if ((field[0]! & 0x80) === 0) return parseOctal(field);
  let value = field[0]! & 0x7f;
  for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
  return value;
}
