import type { Readable } from 'node:stream';

// Object stores take large bodies in parts (S3 multipart uploads, Azure
// blocks). Cutting a stream into parts is the same job for both; only the
// part-count limits differ.

export const MiB = 1024 * 1024;

export interface Part {
  /** 1-based. */
  number: number;
  data: Buffer;
  /** The body ends with this part. A body that ends in part 1 fits in one request. */
  last: boolean;
  /** Hands the part's memory back for a later part. Call only once the store has all of data. */
  release(): void;
}

/**
 * Part sizes that start at `base` and double every `step` parts, so an
 * unknown-length body never runs out of parts (S3 allows 10,000, Azure
 * 50,000) while ordinary objects use small, cheap-to-buffer parts.
 */
export function growingPartSize(base: number, step: number): (partNumber: number) => number {
  return (n) => base * 2 ** Math.floor((n - 1) / step);
}

/**
 * Part buffers of one upload are reused rather than left to the garbage
 * collector: freed 16 MiB buffers otherwise pile up faster than the GC
 * returns them, and faulting in fresh memory is slow on small VMs.
 */
class PartBuffers {
  private readonly spare: Buffer[] = [];

  take(size: number): Buffer {
    const i = this.spare.findIndex((b) => b.length === size);
    return i < 0 ? Buffer.allocUnsafe(size) : this.spare.splice(i, 1)[0]!;
  }

  give(buffer: Buffer): void {
    this.spare.push(buffer);
  }
}

/**
 * Cuts a body into parts. Memory held: the part being filled, one complete
 * part waiting to learn whether it is the last, and parts not yet released.
 * Reading pulls from the source, so a slow store applies backpressure to the producer.
 */
export function readParts(source: Readable, sizeOf: (partNumber: number) => number): AsyncGenerator<Part> {
  // A 'data' listener attached by the caller (e.g. a progress watchdog)
  // switches the source to flowing mode on the next tick, and chunks emitted
  // before we start iterating would be lost. Pausing keeps them buffered.
  source.pause();
  return cut(source, sizeOf, new PartBuffers());
}

async function* cut(source: Readable, sizeOf: (partNumber: number) => number, buffers: PartBuffers): AsyncGenerator<Part> {
  const part = (number: number, buffer: Buffer, length: number, last: boolean): Part => ({
    number,
    data: length === buffer.length ? buffer : buffer.subarray(0, length),
    last,
    release: () => buffers.give(buffer),
  });

  let number = 1;
  // Part 1 is held as the source's own chunks: most bodies (WAL segments,
  // small files) end inside it, and many such uploads at once must not each
  // claim a part-sized buffer. Later parts are copied into reused buffers.
  let firstChunks: Buffer[] | undefined = [];
  let filling: Buffer | undefined;
  let filled = 0;
  // A complete part, held back until more data (not last) or the end (last) arrives.
  let full: Buffer | undefined;

  for await (const raw of source) {
    const chunk = toBuffer(raw);
    for (let offset = 0; offset < chunk.length; ) {
      if (full) {
        yield part(number - 1, full, full.length, false);
        full = undefined;
      }
      const size = sizeOf(number);
      const n = Math.min(size - filled, chunk.length - offset);
      if (firstChunks) firstChunks.push(chunk.subarray(offset, offset + n));
      else chunk.copy((filling ??= buffers.take(size)), filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === size) {
        full = firstChunks ? Buffer.concat(firstChunks, size) : filling!;
        firstChunks = undefined;
        filling = undefined;
        filled = 0;
        number++;
      }
    }
  }
  if (full) yield part(number - 1, full, full.length, true);
  else if (firstChunks) yield part(1, Buffer.concat(firstChunks, filled), filled, true);
  else yield part(number, filling!, filled, true);
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}
