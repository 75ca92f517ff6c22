// Synchronous output framing for a worker thread: the producer reads file
// data straight into the writer's input buffer (no copy), and full buffers
// become output batches, LZ4 frames or the bytes as they are. Batches are
// fresh ArrayBuffers, so they can be transferred to another thread.

import { Xxh32 } from '@node-rs/xxhash';
import type { Reclaimer } from '../util/reclaim.ts';
import { LZ4_BLOCK_BYTES, compressBlockSync } from './lz4-blocks.ts';
import { frameEnd, frameHeader } from './lz4-frame-format.ts';

/** Output is handed on in batches of about this size: few messages, little memory. */
const BATCH_BYTES = 256 << 10;

export interface ChunkWriter {
  /** Free space of the input buffer, to fill in place; never empty. */
  space(): Buffer;
  /** Marks n bytes of space() as filled. */
  commit(n: number): void;
  /** Ends the current input chunk early. */
  flush(): void;
  /** Ends the stream: everything is in ready afterwards. */
  end(): void;
  /** Finished output batches, oldest first; the caller takes them. */
  readonly ready: Buffer[];
}

/** The input side both writers share: a buffer the producer fills in place, flushed when full. */
abstract class FilledInPlace {
  protected input: Buffer;
  protected filled = 0;

  constructor(size: number) {
    this.input = Buffer.allocUnsafeSlow(size);
  }

  space(): Buffer {
    return this.input.subarray(this.filled);
  }

  commit(n: number): void {
    this.filled += n;
    if (this.filled === this.input.length) this.flush();
  }

  abstract flush(): void;
}

/**
 * One LZ4 frame for the whole stream (what WAL-G's reader reads whole; see
 * lz4-encoder.ts), of independent blocks of up to LZ4_BLOCK_BYTES each,
 * compressed with lz4-napi's block call: its frame call took 85 ms of CPU
 * per 128 MiB of pgbench data against 48 ms. The content checksum, XXH32
 * of the whole content, costs little beside it; the manifest's sha256 of
 * every file is checked on restore as well.
 */
export class Lz4ChunkWriter extends FilledInPlace implements ChunkWriter {
  readonly ready: Buffer[] = [];
  #batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  #batched = 0;
  readonly #hash = new Xxh32();
  readonly #reclaimer: Reclaimer | undefined;

  /** reclaimer: told of what each compression call allocates. */
  constructor(reclaimer?: Reclaimer) {
    super(LZ4_BLOCK_BYTES);
    this.#reclaimer = reclaimer;
    this.#append(frameHeader(LZ4_BLOCK_BYTES));
  }

  flush(): void {
    if (this.filled === 0) return;
    const input = this.input.subarray(0, this.filled);
    this.#hash.update(input);
    this.#append(compressBlockSync(input));
    // Counted by input: counting only the native output (about 45 KiB per
    // block) left more garbage between collections (measured: +15-30 MiB peak RSS).
    this.#reclaimer?.note(this.filled);
    this.filled = 0;
  }

  end(): void {
    this.flush();
    this.#append(frameEnd(this.#hash.digest()));
    this.#ship();
  }

  #append(bytes: Buffer): void {
    if (this.#batched + bytes.length > this.#batch.length) {
      this.#ship();
      if (bytes.length > this.#batch.length) this.#batch = Buffer.allocUnsafeSlow(bytes.length);
    }
    bytes.copy(this.#batch, this.#batched);
    this.#batched += bytes.length;
  }

  #ship(): void {
    if (this.#batched === 0) return;
    this.ready.push(this.#batch.subarray(0, this.#batched));
    this.#batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.#batched = 0;
  }
}

/** The bytes unchanged, in batches: for a compressor that runs elsewhere. */
export class PlainChunkWriter extends FilledInPlace implements ChunkWriter {
  readonly ready: Buffer[] = [];

  constructor() {
    super(BATCH_BYTES);
  }

  flush(): void {
    if (this.filled === 0) return;
    this.ready.push(this.input.subarray(0, this.filled));
    this.input = Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.filled = 0;
  }

  end(): void {
    this.flush();
  }
}
