// LZ4 decompression as a stream, for walship's own output (one frame, or
// the frames between markers of its earlier objects) and for foreign
// LZ4 (the lz4 CLI, WAL-G). The parser finds frame and block boundaries;
// frames of bounded size decode whole in one lz4-napi call (which checks
// their checksums natively), larger ones block by block, so memory stays
// bounded whatever a foreign writer chose.
//
// Decoding uses lz4-napi's synchronous calls on purpose: buffers that its
// async calls return are allocated on libuv's worker threads, and its
// allocator keeps them long after they are freed (measured: +70 MiB peak
// RSS on a 768 MiB stream). A 256 KiB frame decodes in about 0.2 ms, so
// the event loop barely notices.

import { decompressFrameSync, uncompressSync } from 'lz4-napi';
import { WalshipError } from '../errors.ts';
import { AsyncTransform } from './async-transform.ts';
import { corrupt, type FrameDescriptor } from './lz4-frame-format.ts';
import { Lz4FrameParser, type Lz4Event } from './lz4-frame-parser.ts';
import { Xxh32, xxh32 } from '@node-rs/xxhash';

type BlockEvent = Extract<Lz4Event, { kind: 'block' }>;

/**
 * A frame whose blocks can decode to at most this much is decoded whole.
 * That is one block of the largest size, so any single-block frame and
 * walship's objects of up to 4 MiB (16 blocks of 256 KiB) qualify, as do
 * the 256 KiB frames of its earlier objects; beyond it (a WAL segment's one
 * frame), blocks are decoded as they come, since buffering a frame would
 * let its writer dictate memory use.
 */
const WHOLE_FRAME_MAX_DECODED = 4 << 20;
/** Linked blocks may copy from the previous 64 KiB of output. */
const LINKED_BLOCK_WINDOW = 64 << 10;

interface WholeFrame {
  mode: 'whole';
  descriptor: FrameDescriptor;
  offset: number;
  parts: Buffer[];
  blocks: BlockEvent[];
  /** Most this frame can decode to, from its block count and block size. */
  decodedBound: number;
}

interface BlockwiseFrame {
  mode: 'blocks';
  descriptor: FrameDescriptor;
  offset: number;
  contentHash: Xxh32 | undefined;
  /** Previous output that linked blocks may refer to. */
  window: Buffer | undefined;
  decoded: number;
}

/**
 * The decoder itself, synchronous: bytes in through write(), decoded bytes
 * out through the callback, in order. A worker thread drives it directly;
 * Lz4Decoder wraps it as a stream.
 */
export class Lz4FrameDecoder {
  readonly #parser = new Lz4FrameParser();
  readonly #output: (decoded: Buffer) => void;
  #frame: WholeFrame | BlockwiseFrame | undefined;
  #decoded = 0;
  /** Decoded byte count at walship's start marker, while its end marker is due. */
  #markedFrom: number | undefined;
  #pastEndMarker = false;

  constructor(output: (decoded: Buffer) => void) {
    this.#output = output;
  }

  write(chunk: Buffer): void {
    for (const event of this.#parser.feed(chunk)) this.#handle(event);
  }

  /** Call at the end of input: throws if the stream ended early. */
  end(): void {
    this.#parser.finish();
    if (this.#markedFrom !== undefined) {
      throw new WalshipError('CODEC_CORRUPT', "LZ4 data is truncated: the stream ends before walship's end marker");
    }
  }

  #handle(event: Lz4Event): void {
    switch (event.kind) {
      case 'marker':
        if (event.marker.kind === 'start') this.#onStartMarker(event.offset);
        else this.#onEndMarker(event.offset, event.marker.decodedBytes);
        return;
      case 'frame-start':
        if (this.#pastEndMarker) throw corrupt(event.offset, "an LZ4 frame follows walship's end marker");
        this.#frame = { mode: 'whole', descriptor: event.descriptor, offset: event.offset, parts: [event.raw], blocks: [], decodedBound: 0 };
        return;
      case 'block':
        this.#onBlock(event);
        return;
      case 'frame-end':
        this.#onFrameEnd(event.raw, event.contentChecksum, event.offset);
        return;
    }
  }

  #onStartMarker(offset: number): void {
    if (this.#markedFrom !== undefined) throw corrupt(offset, 'a second start marker before the end marker');
    this.#markedFrom = this.#decoded;
    this.#pastEndMarker = false;
  }

  #onEndMarker(offset: number, recorded: number): void {
    if (this.#markedFrom === undefined) throw corrupt(offset, 'an end marker without a start marker');
    const decoded = this.#decoded - this.#markedFrom;
    if (decoded !== recorded) {
      throw corrupt(offset, `the frames decode to ${decoded} bytes but the writer recorded ${recorded}; frames are missing or extra`);
    }
    this.#markedFrom = undefined;
    this.#pastEndMarker = true;
  }

  #onBlock(block: BlockEvent): void {
    const frame = this.#frame!;
    if (frame.mode === 'blocks') {
      this.#decodeBlock(frame, block);
      return;
    }
    frame.parts.push(block.raw);
    frame.blocks.push(block);
    frame.decodedBound += block.uncompressed ? block.payload.length : frame.descriptor.blockMaxSize;
    if (frame.decodedBound <= WHOLE_FRAME_MAX_DECODED) return;
    // Too big to hold: decode what is buffered, and the rest as it comes.
    const blockwise: BlockwiseFrame = {
      mode: 'blocks',
      descriptor: frame.descriptor,
      offset: frame.offset,
      contentHash: frame.descriptor.contentChecksum ? new Xxh32() : undefined,
      window: undefined,
      decoded: 0,
    };
    this.#frame = blockwise;
    for (const buffered of frame.blocks) this.#decodeBlock(blockwise, buffered);
  }

  #onFrameEnd(raw: Buffer, contentChecksum: number | undefined, offset: number): void {
    const frame = this.#frame!;
    this.#frame = undefined;
    if (frame.mode === 'blocks') {
      if (contentChecksum !== undefined && frame.contentHash!.digest() !== contentChecksum) {
        throw corrupt(offset, 'LZ4 content checksum mismatch');
      }
      checkContentSize(frame.descriptor, frame.decoded, frame.offset);
      return;
    }
    frame.parts.push(raw);
    let output: Buffer;
    try {
      output = decompressFrameSync(Buffer.concat(frame.parts));
    } catch (err) {
      throw corrupt(frame.offset, `LZ4 frame does not decode (${errorText(err)})`);
    }
    checkContentSize(frame.descriptor, output.length, frame.offset);
    this.#emit(output);
  }

  #decodeBlock(frame: BlockwiseFrame, block: BlockEvent): void {
    if (block.checksum !== undefined && xxh32(block.payload) !== block.checksum) {
      throw corrupt(block.offset, 'LZ4 block checksum mismatch');
    }
    let output: Buffer;
    if (block.uncompressed) {
      output = block.payload;
    } else {
      // lz4-napi's block API wants the decoded size in front; the block
      // maximum works as an upper bound, and a block that decodes to more
      // is rejected as corrupt.
      const input = Buffer.allocUnsafe(4 + block.payload.length);
      input.writeUInt32LE(frame.descriptor.blockMaxSize, 0);
      block.payload.copy(input, 4);
      try {
        output = uncompressSync(input, frame.descriptor.blockIndependent ? undefined : frame.window);
      } catch (err) {
        throw corrupt(block.offset, `LZ4 block does not decode (${errorText(err)})`);
      }
    }
    if (!frame.descriptor.blockIndependent) frame.window = slideWindow(frame.window, output);
    frame.contentHash?.update(output);
    frame.decoded += output.length;
    this.#emit(output);
  }

  #emit(output: Buffer): void {
    if (output.length === 0) return;
    this.#decoded += output.length;
    this.#output(output);
  }
}

export class Lz4Decoder extends AsyncTransform {
  readonly #decoder = new Lz4FrameDecoder((decoded) => this.push(decoded));

  protected async transformAsync(chunk: Buffer): Promise<void> {
    this.#decoder.write(chunk);
  }

  protected async flushAsync(): Promise<void> {
    this.#decoder.end();
  }
}

function checkContentSize(descriptor: FrameDescriptor, decoded: number, offset: number): void {
  if (descriptor.contentSize !== undefined && BigInt(decoded) !== descriptor.contentSize) {
    throw corrupt(offset, `LZ4 frame decodes to ${decoded} bytes but its header says ${descriptor.contentSize}`);
  }
}

/** The last 64 KiB of output, copied so the window does not pin whole blocks. */
function slideWindow(window: Buffer | undefined, output: Buffer): Buffer {
  const joined = window === undefined || output.length >= LINKED_BLOCK_WINDOW ? output : Buffer.concat([window, output]);
  return Buffer.from(joined.subarray(Math.max(0, joined.length - LINKED_BLOCK_WINDOW)));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
