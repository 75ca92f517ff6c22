import type { FileHandle } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { WalshipError } from '../../errors.ts';
import { createXxh64 } from '../../util/xxh64.ts';
import type { ObjectMetadata } from '../driver.ts';

// What ties an object's metadata (its checksum, its encoding) to its data
// file. A data file and its sidecar are two renames, so a crash or a reader
// can always see one without the other: a sidecar must never be taken for
// bytes it does not describe. The inode, size and mtime of the file written
// prove that cheaply, but a copy of the store (cp -a, rsync -a, tar, new
// disks) gives every file a new inode. So each binding also records the
// xxh64 of the bytes as stored, which any copy keeps: when the inode does
// not match, the bytes are read and must hash to what the sidecar recorded.
// Bytes that match no binding are damaged or were replaced behind the
// store's back, and reading them fails: taking them as metadata-less would
// skip the very checksum that was there to catch them.

/** What a sidecar says about one version of the data file. */
export interface Binding {
  ino: number;
  size: number;
  /** Absent in sidecars of earlier versions. */
  mtimeMs?: number;
  /** Of the bytes as stored. Absent in sidecars of earlier versions, which then bind by size alone once the inode differs. */
  xxh64?: string;
  metadata: ObjectMetadata;
}

export interface Sidecar extends Binding {
  /**
   * The object this one replaced: the sidecar is renamed into place before
   * the data file, so after a crash between the two the old bytes are still
   * there, and this is what describes them.
   */
  previous?: Binding;
}

export interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

/** Either the binding settled by the file's identity alone (undefined: no sidecar), or the bindings only the stored bytes can choose from. */
export type Match = { settled: Binding | undefined } | { candidates: Binding[] };

export function parseSidecar(text: string): Sidecar {
  const parsed = JSON.parse(text) as Partial<Sidecar> | null;
  if (typeof parsed?.ino !== 'number' || typeof parsed.size !== 'number' || typeof parsed.metadata !== 'object' || parsed.metadata === null) {
    throw new Error('not a sidecar: ino, size or metadata missing');
  }
  return parsed as Sidecar;
}

/** The sidecar for freshly written bytes, keeping what describes the object it replaces. */
export function newSidecar(file: FileIdentity, xxh64: string, metadata: ObjectMetadata, previous?: Binding): Sidecar {
  return { ino: file.ino, size: file.size, mtimeMs: file.mtimeMs, xxh64, metadata, ...(previous ? { previous: stripPrevious(previous) } : {}) };
}

/** The same binding, under the identity of the file it was matched to (so that the next look is the cheap one). */
export function rebind(binding: Binding, file: FileIdentity): Binding {
  return { ...stripPrevious(binding), ino: file.ino, size: file.size, mtimeMs: file.mtimeMs };
}

function stripPrevious(binding: Binding): Binding {
  const { ino, size, mtimeMs, xxh64, metadata } = binding;
  return { ino, size, ...(mtimeMs === undefined ? {} : { mtimeMs }), ...(xxh64 === undefined ? {} : { xxh64 }), metadata };
}

function isSameFile(binding: Binding, file: FileIdentity): boolean {
  return binding.ino === file.ino && binding.size === file.size && (binding.mtimeMs === undefined || binding.mtimeMs === file.mtimeMs);
}

export function matchByFile(sidecar: Sidecar | undefined, file: FileIdentity): Match {
  if (sidecar === undefined) return { settled: undefined };
  const bindings = sidecar.previous ? [sidecar, sidecar.previous] : [sidecar];
  const same = bindings.find((b) => isSameFile(b, file));
  if (same) return { settled: same };
  const candidates = bindings.filter((b) => b.size === file.size);
  const legacy = candidates.find((b) => b.xxh64 === undefined);
  if (legacy) return { settled: legacy };
  return { candidates };
}

/** The candidate whose recorded checksum is the stored bytes', or the loud failure. */
export function matchByContent(candidates: readonly Binding[], file: FileIdentity, xxh64: string, where: string): Binding {
  const found = candidates.find((b) => b.xxh64 === xxh64);
  if (found) return found;
  throw mismatch(candidates, file, xxh64, where);
}

export function mismatch(candidates: readonly Binding[], file: FileIdentity, xxh64: string | undefined, where: string): WalshipError {
  const recorded = candidates.length === 0 ? 'a different size' : candidates.map((b) => `xxh64 ${b.xxh64}`).join(' or ');
  const stored = xxh64 === undefined ? `${file.size} bytes` : `${file.size} bytes, xxh64 ${xxh64}`;
  return new WalshipError(
    'STORE_CORRUPT',
    `${where}: the stored bytes (${stored}) are not the ones its metadata describes (${recorded}): damaged since they were written, or replaced behind the store's back; nothing is read from it`,
    { details: { size: file.size, ...(xxh64 === undefined ? {} : { xxh64 }) } },
  );
}

const HASH_CHUNK = 1024 * 1024;

/** xxh64 of the first `size` bytes of an open file, read at explicit positions (the handle's own position stays where a stream expects it). */
export async function hashStored(handle: FileHandle, size: number): Promise<string> {
  const hash = createXxh64();
  const buffer = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(size, 1)));
  for (let at = 0; at < size; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - at), at);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
  return hash.digest('hex');
}

/** A pass-through that hashes the stored bytes as they are read, and fails at their end, before a clean end is seen, unless they are the candidate's. */
export function verifyingStream(candidate: Binding, file: FileIdentity, where: string): Transform {
  const hash = createXxh64();
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const xxh64 = hash.digest('hex');
      callback(xxh64 === candidate.xxh64 ? null : mismatch([candidate], file, xxh64, where));
    },
  });
}

/** Hashes what is written, for the sidecar of the bytes being stored. */
export function storedHasher(): { update(chunk: Uint8Array): void; digest(): string } {
  const hash = createXxh64();
  return { update: (chunk) => void hash.update(chunk), digest: () => hash.digest('hex') };
}
