// Test data for the codec: compressible, WAL-like, deterministic, and
// produced fast enough that tests measure the codec rather than the data.

import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const PAGE = 8192;
const RANDOM_PER_PAGE = 1024;

/**
 * `size` bytes of 8 KiB pages, each a page number, 1 KiB of pseudo-random
 * bytes (keyed by seed) and a repetitive filler: it compresses to roughly
 * an eighth, like busy WAL, and two streams with one seed are equal.
 */
export function walLikeStream(size: number, seed = 'walship-codec'): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const filler = Buffer.alloc(PAGE - RANDOM_PER_PAGE - 8, 'INSERT INTO pgbench_history VALUES (1, 2, 3, 4, now()); ');
  const zeros = Buffer.alloc(RANDOM_PER_PAGE);
  const pagesPerChunk = 32;
  let produced = 0;
  let page = 0;
  return new Readable({
    highWaterMark: PAGE * pagesPerChunk,
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = Buffer.allocUnsafe(PAGE * pagesPerChunk);
      for (let p = 0; p < pagesPerChunk; p++, page++) {
        const base = p * PAGE;
        chunk.writeBigUInt64LE(BigInt(page), base);
        cipher.update(zeros).copy(chunk, base + 8);
        filler.copy(chunk, base + 8 + RANDOM_PER_PAGE);
      }
      const n = Math.min(chunk.length, size - produced);
      produced += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

export async function walLikeBuffer(size: number, seed?: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of walLikeStream(size, seed)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** A copy of `data` with the bits of `mask` flipped in the byte at `index`. */
export function flipped(data: Buffer, index: number, mask = 0x01): Buffer {
  const copy = Buffer.from(data);
  copy.writeUInt8(copy.readUInt8(index) ^ mask, index);
  return copy;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
