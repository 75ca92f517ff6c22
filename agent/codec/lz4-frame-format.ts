// The LZ4 frame format (lz4_Frame_format.md, v1.6): constants, the frame
// descriptor, the header walship writes, and the skippable marker frames of
// walship's earlier multi-frame objects, still read.

import { xxh32 } from '@node-rs/xxhash';
import { WalshipError } from '../errors.ts';

export const LZ4_FRAME_MAGIC = 0x184d2204;
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Skippable frames use the 16 magics 0x184D2A50..0x184D2A5F; decoders skip them. */
export const SKIPPABLE_MAGIC_MIN = 0x184d2a50;
export const SKIPPABLE_MAGIC_MAX = 0x184d2a5f;

/** Bytes of FLG + BD, the part of the descriptor that says how long the rest is. */
export const DESCRIPTOR_FIXED_LENGTH = 2;
/** The block-size field's high bit marks a block stored uncompressed. */
export const BLOCK_UNCOMPRESSED_FLAG = 0x8000_0000;

export interface FrameDescriptor {
  blockIndependent: boolean;
  blockChecksums: boolean;
  contentChecksum: boolean;
  /** Decoded size of the whole frame, when the writer recorded it. */
  contentSize: bigint | undefined;
  blockMaxSize: number;
}

const BLOCK_MAX_SIZES: Readonly<Record<number, number>> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };

export function isSkippableMagic(magic: number): boolean {
  return magic >= SKIPPABLE_MAGIC_MIN && magic <= SKIPPABLE_MAGIC_MAX;
}

/** Length of the descriptor (FLG through the header checksum) announced by FLG. */
export function descriptorLength(flg: number): number {
  return DESCRIPTOR_FIXED_LENGTH + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
}

/**
 * Parses and checks the descriptor that follows the magic: version, reserved
 * bits, block size and the header checksum. `at` is the stream offset, for
 * messages.
 */
export function parseDescriptor(bytes: Buffer, at: number): FrameDescriptor {
  const flg = bytes[0]!;
  const bd = bytes[1]!;
  if (flg >> 6 !== 0b01) {
    throw corrupt(at, `unsupported LZ4 frame version ${flg >> 6}`);
  }
  if (flg & 0x02 || bd & 0x8f) {
    throw corrupt(at, 'reserved bits are set in the LZ4 frame descriptor');
  }
  const blockMaxSize = BLOCK_MAX_SIZES[(bd >> 4) & 0x07];
  if (blockMaxSize === undefined) {
    throw corrupt(at, `invalid LZ4 block size code ${(bd >> 4) & 0x07}`);
  }
  const checksum = bytes[bytes.length - 1]!;
  const expected = (xxh32(bytes.subarray(0, bytes.length - 1)) >>> 8) & 0xff;
  if (checksum !== expected) {
    throw corrupt(at, 'LZ4 frame header checksum mismatch');
  }
  if (flg & 0x01) {
    // A dictionary ID means the frame needs a preset dictionary we do not have.
    throw new WalshipError('CODEC_UNSUPPORTED', `LZ4 frame at byte ${at} needs a preset dictionary, which walship does not support`);
  }
  return {
    blockIndependent: (flg & 0x20) !== 0,
    blockChecksums: (flg & 0x10) !== 0,
    contentChecksum: (flg & 0x04) !== 0,
    contentSize: flg & 0x08 ? bytes.readBigUInt64LE(2) : undefined,
    blockMaxSize,
  };
}

/** Block maximum size codes of the BD byte, by size. */
const BLOCK_SIZE_CODES: ReadonlyMap<number, number> = new Map(Object.entries(BLOCK_MAX_SIZES).map(([code, size]) => [size, Number(code)]));

/**
 * The header of the one frame walship writes per object: independent blocks
 * of at most blockMaxSize (so blocks compress in parallel, and a reader that
 * wants it can decode them in parallel too), a content checksum at the end
 * (XXH32 of the whole content: without it a flipped bit can decode to other
 * bytes with no error), no content size (a stream's is known only at its end).
 */
export function frameHeader(blockMaxSize: number): Buffer {
  const code = BLOCK_SIZE_CODES.get(blockMaxSize);
  if (code === undefined) throw new WalshipError('INTERNAL', `no LZ4 block size code for ${blockMaxSize} bytes`);
  const header = Buffer.alloc(4 + DESCRIPTOR_FIXED_LENGTH + 1);
  header.writeUInt32LE(LZ4_FRAME_MAGIC, 0);
  header[4] = 0x40 | 0x20 | 0x04; // version 01, independent blocks, content checksum
  header[5] = code << 4;
  header[6] = (xxh32(header.subarray(4, 6)) >>> 8) & 0xff;
  return header;
}

/** The end mark of a frame, then its content checksum. */
export function frameEnd(contentChecksum: number): Buffer {
  const end = Buffer.alloc(8);
  end.writeUInt32LE(contentChecksum >>> 0, 4);
  return end;
}

export function corrupt(at: number, what: string): WalshipError {
  return new WalshipError('CODEC_CORRUPT', `LZ4 data is corrupt at byte ${at}: ${what}`, { details: { offset: at } });
}

// walship's earlier objects bracket one frame per 256 KiB with two
// skippable frames: the end marker carries the decoded length, and a decoder
// that saw the start marker insists on it. walship no longer writes them
// (WAL-G <= 3.0.8 reads only the first of concatenated frames, so a whole
// object is now one frame), but archives hold such objects, and they restore.
export const WALSHIP_MARKER_MAGIC = 0x184d2a57;
const START_TAG = Buffer.from('WSHPLZ4S', 'ascii');
const END_TAG = Buffer.from('WSHPLZ4E', 'ascii');
/** Longest skippable payload the parser reads instead of skipping. */
export const MARKER_MAX_PAYLOAD = 16;

export type Marker = { kind: 'start' } | { kind: 'end'; decodedBytes: number };

/** Recognises a walship marker payload; undefined for any other skippable frame. */
export function parseMarker(payload: Buffer): Marker | undefined {
  if (payload.equals(START_TAG)) return { kind: 'start' };
  if (payload.length === END_TAG.length + 8 && payload.subarray(0, END_TAG.length).equals(END_TAG)) {
    return { kind: 'end', decodedBytes: Number(payload.readBigUInt64LE(END_TAG.length)) };
  }
  return undefined;
}
