import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { WalshipError } from '../errors.ts';
import type { BodySource } from '../storage/driver.ts';
import { sha256File } from '../util/hash-stream.ts';
import type { Sha256 } from '../util/sha256-offload.ts';
import { LONG_HEADER_BYTES } from './segment-header.ts';

// A WAL file to archive, read once. A segment (16 MiB by default) is read
// into a buffer kept from one push to the next: the header check, the
// checksum and every upload attempt use that one copy, instead of reading
// the file twice through fresh 1 MiB buffers, whose churn alone cost the
// agent a full garbage collection every other segment. The buffers are
// shared memory, so that a worker thread can hash them without a copy.

const IN_MEMORY_LIMIT = 64 * 1024 * 1024;
const POOL_LIMIT = 8;
const pool: Buffer[] = [];

function acquire(size: number): Buffer {
  const i = pool.findIndex((b) => b.length >= size);
  return i >= 0 ? pool.splice(i, 1)[0]! : Buffer.from(new SharedArrayBuffer(size));
}

function release(buffer: Buffer): void {
  if (pool.length < POOL_LIMIT) pool.push(buffer);
}

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
    const buffer = acquire(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const data = buffer.subarray(0, filled);
    let returned = false;
    let hashing: Promise<string> | undefined;
    return {
      size: filled,
      sha256: () => (hashing ??= sha256(data)),
      data,
      head: Buffer.from(data.subarray(0, LONG_HEADER_BYTES)),
      body: () => Readable.from([data], { objectMode: false }),
      done: (reuse) => {
        if (reuse && !returned) release(buffer);
        returned = true;
      },
    };
  } catch (err) {
    throw err instanceof WalshipError ? err : ioError(path, err);
  } finally {
    await handle.close();
  }
}
