import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { compressFrame, decompressFrame, decompressFrameSync } from 'lz4-napi';
import { createCodec, type Codec } from '../../agent/codec/index.ts';
import { LZ4_BLOCK_BYTES } from '../../agent/codec/lz4-blocks.ts';
import { lz4EncodeWhole } from '../../agent/codec/lz4-encoder.ts';
import { LZ4_FRAME_MAGIC } from '../../agent/codec/lz4-frame-format.ts';
import { Lz4FrameParser } from '../../agent/codec/lz4-frame-parser.ts';
import { isWalshipError, type ErrorCode } from '../../agent/errors.ts';
import { runTool } from '../support/codec-cli.ts';
import { flipped, sha256, walLikeBuffer } from '../support/codec-data.ts';
import { multiFrameLz4 } from '../support/lz4-multi-frame.ts';
import { readAll } from '../support/streams.ts';

const LZ4 = { compression: 'lz4', encrypted: false } as const;
let codec: Codec;
let dir: string;

before(async () => {
  codec = await createCodec({ compression: 'lz4' });
  dir = await mkdtemp(join(tmpdir(), 'walship-lz4-'));
});
after(() => rm(dir, { recursive: true, force: true }));


/** Feeds `stored` in chunks of `chunkSize` bytes, to exercise every split point. */
function chunked(stored: Buffer, chunkSize = 64 << 10): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < stored.length; i += chunkSize) parts.push(stored.subarray(i, i + chunkSize));
  return Readable.from(parts);
}

async function encode(plain: Buffer): Promise<Buffer> {
  return readAll(codec.encode(chunked(plain)));
}

async function decode(stored: Buffer, chunkSize?: number): Promise<Buffer> {
  return readAll(codec.decode(chunked(stored, chunkSize), LZ4));
}

async function assertDecodeFails(stored: Buffer, code: ErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(decode(stored), (err: unknown) => {
    assert.ok(isWalshipError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

/** The LZ4 CLI compresses `plain` with `flags`; returns its output. */
async function lz4Cli(name: string, plain: Buffer, flags: string[]): Promise<Buffer> {
  const input = join(dir, `${name}.bin`);
  const output = join(dir, `${name}.lz4`);
  await writeFile(input, plain);
  await runTool('lz4', ['-q', '-f', ...flags, input, output]);
  return readFile(output);
}

function countFrames(stored: Buffer): number {
  return new Lz4FrameParser().feed(stored).filter((e) => e.kind === 'frame-start').length;
}

describe('lz4 framing of our own output', () => {
  test('a multi-block stream is ONE frame of independent 256 KiB blocks with a content checksum', async () => {
    const plain = await walLikeBuffer(3 * LZ4_BLOCK_BYTES + 5);
    const stored = await encode(plain);
    const events = new Lz4FrameParser().feed(stored);
    assert.equal(countFrames(stored), 1);
    assert.equal(stored.readUInt32LE(0), LZ4_FRAME_MAGIC, 'the object starts with the lz4 frame magic, nothing before it');
    const start = events.find((e) => e.kind === 'frame-start')!;
    assert.ok(start.kind === 'frame-start' && start.descriptor.blockIndependent && start.descriptor.contentChecksum);
    assert.equal(start.kind === 'frame-start' && start.descriptor.blockMaxSize, LZ4_BLOCK_BYTES);
    assert.equal(events.filter((e) => e.kind === 'block').length, 4);
    assert.equal(events.at(-1)!.kind, 'frame-end', 'nothing follows the end mark');
    assert.equal(sha256(await decode(stored)), sha256(plain));
  });

  test('a reader that stops at the first end mark (as WAL-G <= 3.0.8 does) gets the whole 16 MiB segment', async () => {
    // Zeros at the end, as a segment ended by a switch: the reused zero block goes in the same frame.
    const segment = Buffer.concat([await walLikeBuffer(11 << 20, 'segment'), Buffer.alloc(5 << 20)]);
    for (const stored of [await encode(segment), await lz4EncodeWhole(segment)]) {
      assert.equal(decompressFrameSync(stored).length, segment.length);
      assert.equal(sha256(decompressFrameSync(stored)), sha256(segment));
    }
    assert.ok((await encode(segment)).equals(await lz4EncodeWhole(segment)), 'the stream and the whole-buffer path write the same bytes');
  });

  test('lz4 -d reads our output', async () => {
    const plain = await walLikeBuffer(2 * LZ4_BLOCK_BYTES + 12345);
    const stored = join(dir, 'ours.lz4');
    await writeFile(stored, await encode(plain));
    await runTool('lz4', ['-q', '-d', '-f', stored, join(dir, 'ours.out')]);
    assert.equal(sha256(await readFile(join(dir, 'ours.out'))), sha256(plain));
  });

  test('lz4 -d reads our output for an empty input', async () => {
    const stored = join(dir, 'empty.lz4');
    await writeFile(stored, await encode(Buffer.alloc(0)));
    await runTool('lz4', ['-q', '-d', '-f', stored, join(dir, 'empty.out')]);
    assert.equal((await readFile(join(dir, 'empty.out'))).length, 0);
    assert.equal((await decode(await readFile(stored))).length, 0);
    assert.equal(decompressFrameSync(await readFile(stored)).length, 0);
  });

  test('incompressible blocks are stored as they are, and still checked', async () => {
    const plain = randomBytes(3 * LZ4_BLOCK_BYTES);
    const stored = await encode(plain);
    const blocks = new Lz4FrameParser().feed(stored).filter((e) => e.kind === 'block');
    assert.ok(blocks.some((b) => b.kind === 'block' && b.uncompressed));
    assert.ok(decompressFrameSync(stored).equals(plain));
    assert.ok((await decode(stored)).equals(plain));
  });

  test('decoding works whatever the input chunking, down to 1-byte chunks', async () => {
    const plain = await walLikeBuffer(100_000);
    const stored = await encode(plain);
    for (const size of [1, 3, 4, 7, 4093]) {
      assert.equal(sha256(await decode(stored, size)), sha256(plain), `chunks of ${size}`);
    }
  });
});

describe("walship's earlier multi-frame objects still decode", () => {
  let plain: Buffer;
  let old: Buffer;
  before(async () => {
    plain = await walLikeBuffer(3 * LZ4_BLOCK_BYTES + 777, 'old');
    old = await multiFrameLz4(plain);
  });

  function frameOffsets(): number[] {
    return new Lz4FrameParser()
      .feed(old)
      .filter((e) => e.kind === 'frame-start')
      .map((e) => e.offset);
  }

  test('frames between markers decode whole (a first-frame-only reader fails or gets 256 KiB)', async () => {
    assert.equal(countFrames(old), 4);
    // What single-frame objects avoid: lz4-napi refuses the leading skippable
    // frame, and past it returns only the first frame, as WAL-G <= 3.0.8 does.
    assert.throws(() => decompressFrameSync(old), /Skippable/);
    assert.equal(decompressFrameSync(old.subarray(16)).length, LZ4_BLOCK_BYTES);
    assert.equal(sha256(await decode(old)), sha256(plain));
    assert.equal(sha256(await decode(old, 1)), sha256(plain));
  });
  test('truncated exactly at a frame boundary', async () => {
    // Valid LZ4 up to here: only the end marker reveals the cut.
    await assertDecodeFails(old.subarray(0, frameOffsets()[2]!), 'CODEC_CORRUPT', /truncated/);
  });
  test('a whole frame missing in the middle', async () => {
    const [, second, third] = frameOffsets();
    await assertDecodeFails(Buffer.concat([old.subarray(0, second!), old.subarray(third!)]), 'CODEC_CORRUPT', /missing or extra/);
  });
  test('a frame after the end marker', async () => {
    await assertDecodeFails(Buffer.concat([old, await compressFrame(Buffer.from('more'))]), 'CODEC_CORRUPT', /follows/);
  });
  test('truncated inside the end marker', () => assertDecodeFails(old.subarray(0, old.length - 3), 'CODEC_CORRUPT', /truncated/));
});

describe('lz4 frames from other writers', () => {
  test('two concatenated frames decode to both (lz4-napi alone returns only the first)', async () => {
    const a = await walLikeBuffer(300_000, 'a');
    const b = await walLikeBuffer(200_000, 'b');
    const stored = Buffer.concat([await compressFrame(a), await compressFrame(b)]);
    // The pitfall this decoder exists for:
    assert.equal((await decompressFrame(stored)).length, a.length);
    assert.equal(sha256(await decode(stored)), sha256(Buffer.concat([a, b])));
  });

  test('skippable frames anywhere are skipped', async () => {
    const a = await walLikeBuffer(50_000, 'a');
    const skippable = Buffer.alloc(8 + 100_000, 0xee);
    skippable.writeUInt32LE(0x184d2a5f, 0);
    skippable.writeUInt32LE(100_000, 4);
    const stored = Buffer.concat([skippable, await compressFrame(a), skippable, await compressFrame(a), skippable]);
    assert.equal(sha256(await decode(stored, 1000)), sha256(Buffer.concat([a, a])));
  });

  const cliCases: { name: string; size: number; flags: string[] }[] = [
    { name: 'small file, defaults', size: 100_000, flags: [] },
    { name: 'multi-MB file, 4 MB independent blocks with content checksum (block by block)', size: 21 << 20, flags: [] },
    { name: 'linked 64 KB blocks (-BD -B4)', size: 12 << 20, flags: ['-BD', '-B4'] },
    { name: 'linked 4 MB blocks (-BD)', size: 13 << 20, flags: ['-BD'] },
    { name: 'block checksums (-BX), 256 KB blocks', size: 10 << 20, flags: ['-BX', '-B5'] },
    { name: 'content size in the header', size: 3 << 20, flags: ['--content-size'] },
    { name: 'no content checksum', size: 9 << 20, flags: ['--no-frame-crc'] },
    { name: 'high compression (-9)', size: 5 << 20, flags: ['-9', '-BD', '-B4'] },
  ];
  for (const c of cliCases) {
    test(`lz4 CLI: ${c.name}`, async () => {
      const plain = await walLikeBuffer(c.size, c.name);
      const stored = await lz4Cli(c.name.replace(/\W+/g, '-'), plain, c.flags);
      assert.equal(sha256(await decode(stored)), sha256(plain));
    });
  }

  test('a damaged block in a big foreign frame fails its content checksum', async () => {
    const plain = await walLikeBuffer(10 << 20, 'damaged');
    const stored = await lz4Cli('damaged', plain, ['-BD', '-B4']);
    // Flip a byte in a literal run near the end, where it cannot break the block syntax.
    await assertDecodeFails(flipped(stored, stored.length - 2000), 'CODEC_CORRUPT', /LZ4/);
  });

  test('damaged block checksums are caught block by block', async () => {
    const plain = await walLikeBuffer(10 << 20, 'bx');
    const stored = await lz4Cli('bx', plain, ['-BX', '-B4', '--no-frame-crc']);
    await assertDecodeFails(flipped(stored, stored.length >> 1, 0x40), 'CODEC_CORRUPT', /checksum|decode/);
  });

  test('the legacy format is refused as unsupported', async () => {
    const stored = await lz4Cli('legacy', await walLikeBuffer(10_000), ['-l']);
    await assertDecodeFails(stored, 'CODEC_UNSUPPORTED', /legacy/);
  });
});

describe('corrupt or truncated lz4 fails with CODEC_CORRUPT', () => {
  let plain: Buffer;
  let stored: Buffer;
  before(async () => {
    plain = await walLikeBuffer(3 * LZ4_BLOCK_BYTES, 'corrupt');
    stored = await encode(plain);
  });

  function blockOffsets(): number[] {
    return new Lz4FrameParser()
      .feed(stored)
      .filter((e) => e.kind === 'block')
      .map((e) => e.offset);
  }

  test('empty input', () => assertDecodeFails(Buffer.alloc(0), 'CODEC_CORRUPT', /empty/));
  test('garbage', () => assertDecodeFails(Buffer.from('this is not lz4 at all'), 'CODEC_CORRUPT', /not an LZ4 frame/));
  test('a flipped byte inside a block', async () => {
    await assertDecodeFails(flipped(stored, blockOffsets()[1]! + 5000, 0x10), 'CODEC_CORRUPT', /LZ4/);
  });
  test('a damaged frame header', async () => {
    // magic (4 bytes), FLG, BD, then the header checksum
    await assertDecodeFails(flipped(stored, 6, 0x04), 'CODEC_CORRUPT', /header checksum/);
    await assertDecodeFails(flipped(stored, 5, 0x01), 'CODEC_CORRUPT', /reserved bits/);
  });
  test('a damaged content checksum', () => assertDecodeFails(flipped(stored, stored.length - 1, 0x01), 'CODEC_CORRUPT', /checksum/i));
  test('truncated inside a block', () => assertDecodeFails(stored.subarray(0, blockOffsets()[1]! + 100), 'CODEC_CORRUPT', /truncated/));
  test('truncated exactly at a block boundary', () => assertDecodeFails(stored.subarray(0, blockOffsets()[2]!), 'CODEC_CORRUPT', /truncated/));
  test('truncated inside the end mark', () => assertDecodeFails(stored.subarray(0, stored.length - 3), 'CODEC_CORRUPT', /truncated/));
  test('trailing garbage', () => assertDecodeFails(Buffer.concat([stored, Buffer.from('xy')]), 'CODEC_CORRUPT', /trailing/));
  test('a foreign frame cut inside a block', async () => {
    const frame = await compressFrame(await walLikeBuffer(1 << 20));
    assert.equal(frame.readUInt32LE(0), LZ4_FRAME_MAGIC);
    await assertDecodeFails(frame.subarray(0, frame.length >> 1), 'CODEC_CORRUPT', /truncated/);
  });
});
