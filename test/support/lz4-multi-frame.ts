// walship's first lz4 object format, kept here to make fixtures of objects
// already in archives: a skippable start marker, one standard lz4 frame
// (with content checksum) per 256 KiB of input, then a skippable end marker
// carrying the decoded length. WAL-G <= 3.0.8 reads only the first frame of
// these, which is why walship now writes one frame; its reader still has to
// restore them.

import { compressFrame } from 'lz4-napi';

const MARKER_MAGIC = 0x184d2a57;
const CHUNK_BYTES = 256 << 10;

function skippable(payload: Buffer): Buffer {
  const frame = Buffer.alloc(8 + payload.length);
  frame.writeUInt32LE(MARKER_MAGIC, 0);
  frame.writeUInt32LE(payload.length, 4);
  payload.copy(frame, 8);
  return frame;
}

export async function multiFrameLz4(plain: Buffer): Promise<Buffer> {
  const frames: Buffer[] = [];
  for (let at = 0; at < plain.length; at += CHUNK_BYTES) {
    frames.push(await compressFrame(plain.subarray(at, at + CHUNK_BYTES), { contentChecksum: true }));
  }
  const end = Buffer.alloc(16);
  Buffer.from('WSHPLZ4E', 'ascii').copy(end);
  end.writeBigUInt64LE(BigInt(plain.length), 8);
  return Buffer.concat([skippable(Buffer.from('WSHPLZ4S', 'ascii')), ...frames, skippable(end)]);
}
