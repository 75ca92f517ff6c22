// LZ4 compression as a stream. lz4-napi only compresses whole buffers, so
// the input is cut into fixed-size chunks and each becomes one standard LZ4
// frame; concatenated frames are a valid LZ4 stream (lz4 -d, lz4_flex and
// pierrec/lz4 v4 read them), and memory stays bounded by the chunk size
// times the frames in flight, whatever the object's size.

import { compressFrame } from 'lz4-napi';
import { AsyncTransform } from './async-transform.ts';
import { endMarker, startMarker } from './lz4-frame-format.ts';
import { OrderedJobs } from './ordered-jobs.ts';

/**
 * 4 MiB is the largest LZ4 block size, so each frame is a single block:
 * few native calls per object (a 16 MiB WAL segment is four), and a frame
 * decodes in one call on the way back.
 */
export const LZ4_FRAME_INPUT_BYTES = 4 << 20;
/** Two frames in flight keep both cores busy without holding more memory than that. */
const FRAMES_IN_FLIGHT = 2;

export class Lz4Encoder extends AsyncTransform {
  #chunk: Buffer | undefined;
  #filled = 0;
  #inputBytes = 0;
  readonly #jobs = new OrderedJobs<Buffer>(FRAMES_IN_FLIGHT);

  constructor() {
    super();
    this.push(startMarker());
  }

  protected async transformAsync(data: Buffer): Promise<void> {
    this.#inputBytes += data.length;
    let offset = 0;
    while (offset < data.length) {
      this.#chunk ??= Buffer.allocUnsafe(LZ4_FRAME_INPUT_BYTES);
      const copied = data.copy(this.#chunk, this.#filled, offset);
      this.#filled += copied;
      offset += copied;
      if (this.#filled === LZ4_FRAME_INPUT_BYTES) await this.#submitChunk();
    }
  }

  protected async flushAsync(): Promise<void> {
    if (this.#filled > 0) await this.#submitChunk();
    while (this.#jobs.size > 0) this.push(await this.#jobs.next());
    this.push(endMarker(this.#inputBytes));
  }

  async #submitChunk(): Promise<void> {
    const input = this.#chunk!.subarray(0, this.#filled);
    this.#chunk = undefined;
    this.#filled = 0;
    // The content checksum is what catches a flipped bit: without it, a
    // damaged frame can decode to different bytes with no error at all.
    this.#jobs.add(compressFrame(input, { contentChecksum: true }));
    while (this.#jobs.full) this.push(await this.#jobs.next());
  }
}
