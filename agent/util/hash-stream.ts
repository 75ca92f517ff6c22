import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
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
