// A FIFO of incoming stream chunks that a parser reads from by byte count,
// so it can wait for "the next 4 bytes" or "the next N-byte block" whatever
// the chunking of the source.

import { WalshipError } from '../errors.ts';

export class ByteQueue {
  #chunks: Buffer[] = [];
  /** Read position inside #chunks[0]. */
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The unsigned little-endian 32-bit integer at offset, without consuming it. */
  peekUInt32LE(offset = 0): number {
    return this.peek(offset + 4).readUInt32LE(offset);
  }

  /** The first n bytes without consuming them. */
  peek(n: number): Buffer {
    this.#assertAvailable(n);
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= n) return first.subarray(this.#head, this.#head + n);
    this.#coalesce(n);
    return this.#chunks[0]!.subarray(0, n);
  }

  /** Consumes n bytes. The result may share memory with the pushed chunks. */
  read(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  /** Consumes up to n bytes without copying them; returns how many it dropped. */
  skip(n: number): number {
    let left = Math.min(n, this.#length);
    const dropped = left;
    while (left > 0) {
      const first = this.#chunks[0]!;
      const available = first.length - this.#head;
      if (available > left) {
        this.#head += left;
        break;
      }
      left -= available;
      this.#chunks.shift();
      this.#head = 0;
    }
    this.#length -= dropped;
    return dropped;
  }

  /** Merges the chunks that hold the first n bytes into one. */
  #coalesce(n: number): void {
    const merged = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const first = this.#chunks[0]!;
      const take = Math.min(first.length - this.#head, n - filled);
      first.copy(merged, filled, this.#head, this.#head + take);
      filled += take;
      if (this.#head + take === first.length) {
        this.#chunks.shift();
      } else {
        // The rest of a partly merged chunk stays queued as its own view.
        this.#chunks[0] = first.subarray(this.#head + take);
      }
      this.#head = 0;
    }
    this.#chunks.unshift(merged);
  }

  #assertAvailable(n: number): void {
    if (n > this.#length) throw new WalshipError('INTERNAL', `ByteQueue: ${n} bytes requested, ${this.#length} available`);
  }
}
