// LZ4 compression as a stream. lz4-napi only compresses whole buffers, so
// the input is cut into fixed-size chunks and each becomes one standard LZ4
// frame; concatenated frames are a valid LZ4 stream (lz4 -d reads them, and
// so, per its source, does pierrec/lz4, WAL-G's library, since 2017), and
// memory stays bounded by the chunk size times the frames in flight,
// whatever the object's size. Blocks are independent, which older
// pierrec/lz4 readers require.

import { compressFrame } from 'lz4-napi';
import { AsyncTransform } from './async-transform.ts';
import type { GrowingEncoder } from './growing-encoder.ts';
import { endMarker, startMarker } from './lz4-frame-format.ts';
import { OrderedJobs } from './ordered-jobs.ts';

/**
 * 256 KiB per frame. lz4 looks back only 64 KiB, so bigger frames gain no
 * ratio (the per-frame overhead is 19 bytes), while lz4-napi's buffers
 * drive memory: its native allocator and V8 both let freed output buffers
 * linger. Measured peak RSS for 768 MiB through encode + decode: 4 MiB
 * frames 490 MiB (and 3x slower), 1 MiB frames 240 MiB, 256 KiB frames
 * 190 MiB for WAL-like data (375 vs 330 MiB for incompressible data), at
 * the same speed.
 */
export const LZ4_FRAME_INPUT_BYTES = 256 << 10;
/** Two frames in flight keep both cores busy; a third buffer fills meanwhile. */
const FRAMES_IN_FLIGHT = 2;

/**
 * One chunk, one standard frame. The content checksum is what catches a
 * flipped bit: without it, a damaged frame can decode to different bytes
 * with no error at all.
 */
function compressChunk(chunk: Buffer): Promise<Buffer> {
  if (chunk.length === LZ4_FRAME_INPUT_BYTES && chunk.equals(zeroChunk())) return zeroFrame();
  return compressFrame(chunk, { contentChecksum: true });
}

// A segment ended by a switch is zeros from the switch on (up to a third of
// it at an archive_timeout's pace), and those are the bytes PostgreSQL's
// archiver waits for. Compression is deterministic, so a chunk of zeros
// always makes the same frame: compressed once, then reused, after a
// comparison that stops at the first byte of any other chunk.
let zeros: Buffer | undefined;
let zerosFrame: Promise<Buffer> | undefined;
const zeroChunk = () => (zeros ??= Buffer.alloc(LZ4_FRAME_INPUT_BYTES));
function zeroFrame(): Promise<Buffer> {
  if (zerosFrame === undefined) {
    zerosFrame = compressFrame(zeroChunk(), { contentChecksum: true });
    // A failure is not kept: the next chunk of zeros tries again.
    zerosFrame.catch(() => (zerosFrame = undefined));
  }
  return zerosFrame;
}

interface CompressedChunk {
  frame: Buffer;
  /** The input buffer, free for reuse once its frame is done. */
  input: Buffer;
}

export class Lz4Encoder extends AsyncTransform {
  #chunk: Buffer | undefined;
  #filled = 0;
  #inputBytes = 0;
  readonly #jobs = new OrderedJobs<CompressedChunk>(FRAMES_IN_FLIGHT);
  /**
   * Input buffers whose frames are done, reused rather than allocating a
   * fresh buffer per frame (fresh memory costs a page fault per 4 KiB on
   * first touch).
   */
  readonly #spare: Buffer[] = [];

  constructor() {
    super();
    this.push(startMarker());
  }

  protected async transformAsync(data: Buffer): Promise<void> {
    this.#inputBytes += data.length;
    let offset = 0;
    while (offset < data.length) {
      this.#chunk ??= this.#spare.pop() ?? Buffer.allocUnsafe(LZ4_FRAME_INPUT_BYTES);
      const copied = data.copy(this.#chunk, this.#filled, offset);
      this.#filled += copied;
      offset += copied;
      if (this.#filled === LZ4_FRAME_INPUT_BYTES) await this.#submitChunk();
    }
  }

  protected async flushAsync(): Promise<void> {
    if (this.#filled > 0) await this.#submitChunk();
    while (this.#jobs.size > 0) await this.#emitNext();
    this.push(endMarker(this.#inputBytes));
  }

  async #submitChunk(): Promise<void> {
    const input = this.#chunk!;
    const filled = this.#filled;
    this.#chunk = undefined;
    this.#filled = 0;
    // Wait for a slot before, not after, adding the job, so both frames in
    // flight keep compressing while the next chunk is being filled.
    while (this.#jobs.full) await this.#emitNext();
    this.#jobs.add(compressChunk(input.subarray(0, filled)).then((frame) => ({ frame, input })));
  }

  async #emitNext(): Promise<void> {
    const { frame, input } = await this.#jobs.next();
    this.#spare.push(input);
    this.push(frame);
  }
}

/** Compresses chunks [first, end) of data into frames[first..end), FRAMES_IN_FLIGHT at a time; the last chunk ends with data. */
async function compressChunks(data: Buffer, frames: Buffer[], first: number, end: number): Promise<void> {
  let next = first;
  const lane = async () => {
    for (let i = next++; i < end; i = next++) {
      frames[i] = await compressChunk(data.subarray(i * LZ4_FRAME_INPUT_BYTES, (i + 1) * LZ4_FRAME_INPUT_BYTES));
    }
  };
  await Promise.all(Array.from({ length: Math.min(FRAMES_IN_FLIGHT, end - first) }, lane));
}

const chunkCount = (bytes: number) => Math.ceil(bytes / LZ4_FRAME_INPUT_BYTES);

function assemble(frames: Buffer[], decodedBytes: number): Buffer {
  return Buffer.concat([startMarker(), ...frames, endMarker(decodedBytes)]);
}

/**
 * The same bytes as an Lz4Encoder stream fed `data`, for a buffer already in
 * memory (a WAL segment): the frames are cut at the same places and
 * compressed FRAMES_IN_FLIGHT at a time, without the stream machinery, which
 * costs about as much CPU again as the compression itself (measured on a
 * 16 MiB segment: 25-37 ms of CPU through the stream, 12-16 ms direct).
 */
export async function lz4EncodeWhole(data: Buffer): Promise<Buffer> {
  const frames: Buffer[] = [];
  await compressChunks(data, frames, 0, chunkCount(data.length));
  return assemble(frames, data.length);
}

/**
 * lz4EncodeWhole for a buffer that fills in from its start: each frame is
 * compressed as soon as its whole chunk is final, so finish() has only the
 * chunks written last left to do.
 */
export class Lz4GrowingEncoder implements GrowingEncoder {
  readonly #buffer: Buffer;
  readonly #frames: Buffer[] = [];
  /** Chunks handed to the compressor, in order. */
  #chunks = 0;
  #work: Promise<void> = Promise.resolve();

  constructor(buffer: Buffer) {
    this.#buffer = buffer;
  }

  advance(final: number): void {
    const full = Math.floor(final / LZ4_FRAME_INPUT_BYTES);
    if (full > this.#chunks) this.#queue(this.#buffer, full);
  }

  async finish(size: number): Promise<Buffer> {
    this.#queue(this.#buffer.subarray(0, size), chunkCount(size));
    await this.#work;
    return assemble(this.#frames.slice(0, this.#chunks), size);
  }

  /** Nothing to stop: frames in flight only read the buffer, and go with this encoder. */
  abandon(): void {}

  /** One batch at a time, so no more than FRAMES_IN_FLIGHT frames take the cores PostgreSQL is writing with. */
  #queue(data: Buffer, end: number): void {
    const first = this.#chunks;
    this.#chunks = Math.max(first, end);
    this.#work = this.#work.then(() => compressChunks(data, this.#frames, first, end));
    this.#work.catch(() => undefined);
  }
}
