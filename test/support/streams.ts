import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';

/**
 * A deterministic pseudo-random stream of `size` bytes (an AES-CTR keystream
 * keyed by the seed): two streams with the same seed are equal, the data does
 * not compress away, and it is produced at GB/s so tests measure the code under test.
 */
export function generatedStream(size: number, seed = 'walship'): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(256 * 1024);
  let offset = 0;
  return new Readable({
    highWaterMark: zeros.length,
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(zeros.length, size - offset);
      offset += n;
      this.push(cipher.update(zeros.subarray(0, n)));
    },
  });
}

export async function sha256Of(stream: Readable): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb();
      },
    }),
  );
  return { hex: hash.digest('hex'), bytes };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
