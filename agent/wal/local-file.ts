import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { WalshipError } from '../errors.ts';
import type { BodySource } from '../storage/driver.ts';
import { sha256File } from '../util/hash-stream.ts';
import type { Sha256 } from '../util/sha256-offload.ts';
import { LONG_HEADER_BYTES } from './segment-header.ts';
import { acquireSegmentBuffer, releaseSegmentBuffer } from './segment-buffers.ts';

// A WAL file to archive, read once. A segment (16 MiB by default) is read
// into a pooled buffer (segment-buffers.ts): the header check, the checksum
// and every upload attempt use that one copy, instead of reading the file
// twice.

const IN_MEMORY_LIMIT = 64 * 1024 * 1024;

export interface LocalWalFile {
  size: number;
  /** Started on the first call. */
  sha256(): Promise<string>;
  /** The whole content, when it was small enough to read into memory. */
  data: Buffer | undefined;
  /** The first bytes: the long page header of a segment. */
  head: Buffer;
  body: BodySource;
  /** Call once the upload is over; `reuse` only when nothing can still be reading the data. */
  done(reuse: boolean): void;
}

function ioError(path: string, err: unknown): WalshipError {
  return new WalshipError('IO_FAILED', `cannot read ${path}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
}

export async function readLocalWal(path: string, sha256: Sha256): Promise<LocalWalFile> {
  const handle = await open(path, 'r').catch((err: unknown) => {
    throw ioError(path, err);
  });
  try {
    const { size } = await handle.stat();
    if (size > IN_MEMORY_LIMIT) {
      const head = Buffer.alloc(Math.min(LONG_HEADER_BYTES, size));
      await handle.read(head, 0, head.length, 0);
      const { sha256: hex } = await sha256File(path).catch((err: unknown) => {
        throw ioError(path, err);
      });
      return { size, sha256: () => Promise.resolve(hex), data: undefined, head, body: () => createReadStream(path, { highWaterMark: 1024 * 1024 }), done: () => undefined };
    }
    const buffer = acquireSegmentBuffer(size);
    let filled = 0;
    try {
      filled = await readFully(handle, buffer, 0, size);
    } catch (err) {
      releaseSegmentBuffer(buffer);
      throw err;
    }
    return inMemoryWal(buffer, filled, sha256);
  } catch (err) {
    throw err instanceof WalshipError ? err : ioError(path, err);
  } finally {
    await handle.close();
  }
}

/** Reads [position, position + length) of the file into buffer at the same offset; returns the bytes read (fewer at the end of the file). */
export async function readFully(handle: FileHandle, buffer: Buffer, position: number, length: number): Promise<number> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, position + filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * A WAL file whose content is the first `size` bytes of a pooled segment
 * buffer, which goes back to the pool when done(true) is called. `knownSha256`:
 * the checksum, when it was computed while the file was read.
 */
export function inMemoryWal(buffer: Buffer, size: number, sha256: Sha256, knownSha256?: string): LocalWalFile {
  const data = buffer.subarray(0, size);
  let returned = false;
  let hashing: Promise<string> | undefined = knownSha256 === undefined ? undefined : Promise.resolve(knownSha256);
  return {
    size,
    sha256: () => (hashing ??= sha256(data)),
    data,
    head: Buffer.from(data.subarray(0, LONG_HEADER_BYTES)),
    body: () => Readable.from([data], { objectMode: false }),
    done: (reuse) => {
      if (reuse && !returned) releaseSegmentBuffer(buffer);
      returned = true;
    },
  };
}
