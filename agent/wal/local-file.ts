import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { WalshipError } from '../errors.ts';
import type { BodySource } from '../storage/driver.ts';
import { DIGEST_ALGORITHM, digestFile, digestOf, type ContentDigest, type DigestAlgorithm } from './content-digest.ts';
import { LONG_HEADER_BYTES } from './segment-header.ts';
import { acquireSegmentBuffer, releaseSegmentBuffer } from './segment-buffers.ts';

// A WAL file to archive, read once. A segment (16 MiB by default) is read
// into a pooled buffer (segment-buffers.ts): the header check, the checksum
// and every upload attempt use that one copy, instead of reading the file
// twice.

const IN_MEMORY_LIMIT = 64 * 1024 * 1024;

export interface LocalWalFile {
  size: number;
  /** The content's checksum (the current algorithm unless told otherwise: an older archived copy may carry another). */
  digest(algorithm?: DigestAlgorithm): Promise<ContentDigest>;
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

export async function readLocalWal(path: string): Promise<LocalWalFile> {
  const handle = await open(path, 'r').catch((err: unknown) => {
    throw ioError(path, err);
  });
  try {
    const { size } = await handle.stat();
    if (size > IN_MEMORY_LIMIT) {
      const head = Buffer.alloc(Math.min(LONG_HEADER_BYTES, size));
      await handle.read(head, 0, head.length, 0);
      const digests = memoized((algorithm) =>
        digestFile(path, algorithm).catch((err: unknown) => {
          throw ioError(path, err);
        }),
      );
      await digests(DIGEST_ALGORITHM);
      return { size, digest: digests, data: undefined, head, body: () => createReadStream(path, { highWaterMark: 1024 * 1024 }), done: () => undefined };
    }
    const buffer = acquireSegmentBuffer(size);
    let filled = 0;
    try {
      filled = await readFully(handle, buffer, 0, size);
    } catch (err) {
      releaseSegmentBuffer(buffer);
      throw err;
    }
    return inMemoryWal(buffer, filled);
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
 * buffer, which goes back to the pool when done(true) is called. `known`:
 * the checksum, when it was computed while the file was read.
 */
export function inMemoryWal(buffer: Buffer, size: number, known?: ContentDigest): LocalWalFile {
  const data = buffer.subarray(0, size);
  let returned = false;
  const digests = memoized(async (algorithm) => digestOf(data, algorithm));
  if (known !== undefined) digests.set(known);
  return {
    size,
    digest: digests,
    data,
    head: Buffer.from(data.subarray(0, LONG_HEADER_BYTES)),
    body: () => Readable.from([data], { objectMode: false }),
    done: (reuse) => {
      if (reuse && !returned) releaseSegmentBuffer(buffer);
      returned = true;
    },
  };
}

type Digests = ((algorithm?: DigestAlgorithm) => Promise<ContentDigest>) & { set(digest: ContentDigest): void };

/** Each algorithm's checksum computed once, on first demand. */
function memoized(compute: (algorithm: DigestAlgorithm) => Promise<ContentDigest>): Digests {
  const computed = new Map<DigestAlgorithm, Promise<ContentDigest>>();
  const get = (algorithm: DigestAlgorithm = DIGEST_ALGORITHM) => {
    let digest = computed.get(algorithm);
    if (digest === undefined) computed.set(algorithm, (digest = compute(algorithm)));
    return digest;
  };
  return Object.assign(get, { set: (digest: ContentDigest) => void computed.set(digest.algorithm, Promise.resolve(digest)) });
}
