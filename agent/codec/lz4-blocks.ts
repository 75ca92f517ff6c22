// The blocks of walship's one-frame LZ4 objects: each 256 KiB of input is
// compressed on its own (independent blocks, so several compress at once on
// libuv's threads) and framed here with its size field. lz4-napi's block
// calls put the decoded size in front of the block; that field is
// overwritten in place with the frame's block size field, so a block costs
// no copy.

import { compress, compressSync } from 'lz4-napi';
import { BLOCK_UNCOMPRESSED_FLAG } from './lz4-frame-format.ts';

/**
 * 256 KiB per block. lz4 looks back only 64 KiB, so bigger blocks gain no
 * ratio, while lz4-napi's buffers drive memory: its native allocator and V8
 * both let freed output buffers linger. Measured peak RSS for 768 MiB
 * through encode + decode: 4 MiB units 490 MiB (and 3x slower), 1 MiB
 * 240 MiB, 256 KiB 190 MiB for WAL-like data, at the same speed. 256 KiB is
 * also one of the four block sizes a frame header can declare.
 */
export const LZ4_BLOCK_BYTES = 256 << 10;

/** A compressed block with its size field, or the input stored as it is when compression does not shrink it. */
function framed(input: Buffer, compressed: Buffer): Buffer {
  const payload = compressed.length - 4;
  if (payload < input.length) {
    compressed.writeUInt32LE(payload, 0);
    return compressed;
  }
  // Copied: the caller reuses its input buffer.
  const stored = Buffer.allocUnsafe(4 + input.length);
  stored.writeUInt32LE((BLOCK_UNCOMPRESSED_FLAG | input.length) >>> 0, 0);
  input.copy(stored, 4);
  return stored;
}

// A segment ended by a switch is zeros from the switch on (up to a third of
// it at an archive_timeout's pace), and those are the bytes PostgreSQL's
// archiver waits for. Compression is deterministic, so a block of zeros
// always compresses the same: compressed once, then reused, after a
// comparison that stops at the first byte of any other block.
let zeros: Buffer | undefined;
let zerosBlock: Promise<Buffer> | undefined;
const zeroInput = () => (zeros ??= Buffer.alloc(LZ4_BLOCK_BYTES));
const isZeroBlock = (input: Buffer) => input.length === LZ4_BLOCK_BYTES && input.equals(zeroInput());

function zeroBlock(): Promise<Buffer> {
  if (zerosBlock === undefined) {
    zerosBlock = compress(zeroInput()).then((compressed) => framed(zeroInput(), compressed));
    // A failure is not kept: the next block of zeros tries again.
    zerosBlock.catch(() => (zerosBlock = undefined));
  }
  return zerosBlock;
}

/** One block of at most LZ4_BLOCK_BYTES, size field first, compressed off the event loop. */
export function compressBlock(input: Buffer): Promise<Buffer> {
  if (isZeroBlock(input)) return zeroBlock();
  return compress(input).then((compressed) => framed(input, compressed));
}

/** compressBlock on the calling thread: for worker threads that compress their own output. */
export function compressBlockSync(input: Buffer): Buffer {
  return framed(input, compressSync(input));
}
