import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { Transform } from 'node:stream';

/** What a tap feeds: node:crypto's Hash has this shape. */
export interface Hasher {
  update(chunk: Uint8Array): unknown;
  digest(encoding: 'hex'): string;
}

/** A pass-through that hashes what flows through it (sha256 unless told otherwise); digest() once it has ended. */
export function hashingTap(makeHasher: () => Hasher = () => createHash('sha256')): { stream: Transform; digest(): string; bytes(): number } {
  const hash = makeHasher();
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  let digest: string | undefined;
  return { stream, digest: () => (digest ??= hash.digest('hex')), bytes: () => bytes };
}

const HASH_CHUNK = 1024 * 1024;
let hashBuffer: Buffer | undefined;

/**
 * sha256 of a file, read synchronously through one reused buffer: for
 * worker threads, where blocking costs nothing and a trip through libuv's
 * thread pool per read does. Fresh stream buffers per read would spend
 * more time collecting garbage than hashing.
 */
export function sha256FileSync(path: string): { sha256: string; size: number } {
  const buffer = (hashBuffer ??= Buffer.allocUnsafeSlow(HASH_CHUNK));
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}
