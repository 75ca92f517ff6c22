import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A pass-through that hashes what flows through it; digest() once it has ended. */
export function hashingTap(algorithm = 'sha256'): { stream: Transform; digest(): string; bytes(): number } {
  const hash = createHash(algorithm);
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
const spareBuffers: Buffer[] = [];

/**
 * sha256 of a file through one reused buffer: hashing a whole data
 * directory through fresh stream buffers spends more time collecting
 * garbage than hashing.
 */
export async function sha256FileReusing(path: string): Promise<{ sha256: string; size: number }> {
  const buffer = spareBuffers.pop() ?? Buffer.allocUnsafeSlow(HASH_CHUNK);
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    await handle.close();
    if (spareBuffers.length < 16) spareBuffers.push(buffer);
  }
}

export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), async function* (source) {
    for await (const chunk of source) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  });
  return { sha256: hash.digest('hex'), size };
}
