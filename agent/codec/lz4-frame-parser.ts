// Splits a byte stream of concatenated LZ4 frames into frame headers, blocks
// and end marks, without decoding anything. lz4-napi decodes only the first
// of several concatenated frames and has no streaming API, so walship finds
// the boundaries itself and hands lz4-napi one frame, or one block, at a time.

import { ByteQueue } from './byte-queue.ts';
import {
  BLOCK_UNCOMPRESSED_FLAG,
  DESCRIPTOR_FIXED_LENGTH,
  LZ4_FRAME_MAGIC,
  LZ4_LEGACY_MAGIC,
  MARKER_MAX_PAYLOAD,
  WALSHIP_MARKER_MAGIC,
  corrupt,
  descriptorLength,
  isSkippableMagic,
  parseDescriptor,
  parseMarker,
  type FrameDescriptor,
  type Marker,
} from './lz4-frame-format.ts';
import { WalshipError } from '../errors.ts';

export type Lz4Event =
  /** raw: magic and descriptor, as read. */
  | { kind: 'frame-start'; descriptor: FrameDescriptor; raw: Buffer; offset: number }
  /** raw: size field, payload and block checksum, as read; payload is a view into raw. */
  | { kind: 'block'; raw: Buffer; payload: Buffer; uncompressed: boolean; checksum: number | undefined; offset: number }
  /** raw: end mark and content checksum, as read. */
  | { kind: 'frame-end'; raw: Buffer; contentChecksum: number | undefined; offset: number }
  | { kind: 'marker'; marker: Marker; offset: number };

type State =
  | { at: 'magic' }
  | { at: 'descriptor' }
  | { at: 'block'; descriptor: FrameDescriptor }
  | { at: 'skip'; left: number }
  | { at: 'marker'; size: number };

export class Lz4FrameParser {
  readonly #queue = new ByteQueue();
  #state: State = { at: 'magic' };
  /** Stream offset of the first byte in the queue. */
  #offset = 0;
  #sawAnything = false;

  /** Consumes a chunk and returns every event it completes. */
  feed(chunk: Buffer): Lz4Event[] {
    this.#queue.push(chunk);
    const events: Lz4Event[] = [];
    for (;;) {
      const event = this.#step();
      if (event === 'need-more') return events;
      if (event !== undefined) events.push(event);
    }
  }

  /** Call at end of input: throws unless the stream ended between frames. */
  finish(): void {
    if (!this.#sawAnything) {
      throw new WalshipError('CODEC_CORRUPT', 'LZ4 data is empty: expected at least one frame');
    }
    const left = this.#queue.length;
    if (this.#state.at === 'magic') {
      if (left > 0) throw corrupt(this.#offset, `${left} trailing bytes are too short to be an LZ4 frame`);
      return;
    }
    if (this.#state.at === 'skip' && this.#state.left === 0) return;
    throw new WalshipError(
      'CODEC_CORRUPT',
      `LZ4 data is truncated: the stream ends inside ${this.#describeState()} (after byte ${this.#offset + left})`,
      { details: { offset: this.#offset + left } },
    );
  }

  #describeState(): string {
    if (this.#state.at === 'descriptor') return 'a frame header';
    if (this.#state.at === 'block') return 'a frame';
    return 'a skippable frame';
  }

  /** One parse step: an event, undefined for progress without one, or 'need-more'. */
  #step(): Lz4Event | undefined | 'need-more' {
    const q = this.#queue;
    const state = this.#state;
    switch (state.at) {
      case 'magic': {
        if (q.length < 4) return 'need-more';
        this.#sawAnything = true;
        const magic = q.peekUInt32LE();
        if (magic === LZ4_FRAME_MAGIC) {
          this.#state = { at: 'descriptor' };
          return undefined;
        }
        if (isSkippableMagic(magic)) {
          if (q.length < 8) return 'need-more';
          const size = q.peekUInt32LE(4);
          this.#consume(8);
          this.#state = magic === WALSHIP_MARKER_MAGIC && size <= MARKER_MAX_PAYLOAD ? { at: 'marker', size } : { at: 'skip', left: size };
          return undefined;
        }
        if (magic === LZ4_LEGACY_MAGIC) {
          throw new WalshipError('CODEC_UNSUPPORTED', `the legacy LZ4 format (lz4 -l) at byte ${this.#offset} is not supported`);
        }
        throw corrupt(this.#offset, `not an LZ4 frame (magic 0x${magic.toString(16).padStart(8, '0')})`);
      }
      case 'descriptor': {
        if (q.length < 4 + DESCRIPTOR_FIXED_LENGTH) return 'need-more';
        const length = 4 + descriptorLength(q.peek(5)[4]!);
        if (q.length < length) return 'need-more';
        const offset = this.#offset;
        const raw = this.#consume(length);
        const descriptor = parseDescriptor(raw.subarray(4), offset);
        this.#state = { at: 'block', descriptor };
        return { kind: 'frame-start', descriptor, raw, offset };
      }
      case 'block': {
        if (q.length < 4) return 'need-more';
        const { descriptor } = state;
        const field = q.peekUInt32LE();
        const offset = this.#offset;
        if (field === 0) {
          const length = 4 + (descriptor.contentChecksum ? 4 : 0);
          if (q.length < length) return 'need-more';
          const raw = this.#consume(length);
          this.#state = { at: 'magic' };
          return { kind: 'frame-end', raw, contentChecksum: descriptor.contentChecksum ? raw.readUInt32LE(4) : undefined, offset };
        }
        const size = (field & ~BLOCK_UNCOMPRESSED_FLAG) >>> 0;
        if (size > descriptor.blockMaxSize) {
          throw corrupt(offset, `block of ${size} bytes exceeds the frame's maximum block size of ${descriptor.blockMaxSize}`);
        }
        const length = 4 + size + (descriptor.blockChecksums ? 4 : 0);
        if (q.length < length) return 'need-more';
        const raw = this.#consume(length);
        return {
          kind: 'block',
          raw,
          payload: raw.subarray(4, 4 + size),
          uncompressed: (field & BLOCK_UNCOMPRESSED_FLAG) !== 0,
          checksum: descriptor.blockChecksums ? raw.readUInt32LE(4 + size) : undefined,
          offset,
        };
      }
      case 'skip': {
        if (state.left === 0) {
          this.#state = { at: 'magic' };
          return undefined;
        }
        if (q.length === 0) return 'need-more';
        const dropped = q.skip(state.left);
        this.#offset += dropped;
        state.left -= dropped;
        return undefined;
      }
      case 'marker': {
        if (q.length < state.size) return 'need-more';
        const offset = this.#offset - 8;
        const payload = this.#consume(state.size);
        this.#state = { at: 'magic' };
        const marker = parseMarker(payload);
        return marker === undefined ? undefined : { kind: 'marker', marker, offset };
      }
    }
  }

  #consume(n: number): Buffer {
    this.#offset += n;
    return this.#queue.read(n);
  }
}
