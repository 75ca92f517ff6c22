import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { createCodec, type Codec } from '../../agent/codec/index.ts';
import { LZ4_FRAME_INPUT_BYTES } from '../../agent/codec/lz4-encoder.ts';
import { LZ4_FRAME_MAGIC } from '../../agent/codec/lz4-frame-format.ts';
import { Lz4FrameParser } from '../../agent/codec/lz4-frame-parser.ts';
import { isWalshipError, type ErrorCode } from '../../agent/errors.ts';
import { runTool } from '../support/codec-cli.ts';
import { flipped, sha256, walLikeBuffer } from '../support/codec-data.ts';
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
  test('a multi-chunk stream becomes one frame per chunk, between walship markers', async () => {
    const plain = await walLikeBuffer(3 * LZ4_FRAME_INPUT_BYTES + 5);
    const stored = await encode(plain);
    assert.equal(countFrames(stored), 4);
    assert.equal(stored.readUInt32LE(0), 0x184d2a57, 'starts with the walship start marker');
    assert.equal(sha256(await decode(stored)), sha256(plain));
  });

  test('lz4 -d reads our multi-frame output', async () => {
    const plain = await walLikeBuffer(2 * LZ4_FRAME_INPUT_BYTES + 12345);
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
  });

  test('decoding works whatever the input chunking, down to 1-byte chunks', async () => {
    const plain = await walLikeBuffer(100_000);
    const stored = await encode(plain);
    for (const size of [1, 3, 4, 7, 4093]) {
      assert.equal(sha256(await decode(stored, size)), sha256(plain), `chunks of ${size}`);
    }
  });
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
    plain = await walLikeBuffer(3 * LZ4_FRAME_INPUT_BYTES, 'corrupt');
    stored = await encode(plain);
  });

  function frameOffsets(): number[] {
    return new Lz4FrameParser()
      .feed(stored)
      .filter((e) => e.kind === 'frame-start')
      .map((e) => e.offset);
  }

  test('empty input', () => assertDecodeFails(Buffer.alloc(0), 'CODEC_CORRUPT', /empty/));
  test('garbage', () => assertDecodeFails(Buffer.from('this is not lz4 at all'), 'CODEC_CORRUPT', /not an LZ4 frame/));
  test('a flipped byte inside a frame', async () => {
    await assertDecodeFails(flipped(stored, frameOffsets()[1]! + 5000, 0x10), 'CODEC_CORRUPT', /LZ4/);
  });
  test('a damaged frame header', async () => {
    // magic (4 bytes), FLG, BD, then the header checksum
    await assertDecodeFails(flipped(stored, frameOffsets()[0]! + 6, 0x04), 'CODEC_CORRUPT', /header checksum/);
    await assertDecodeFails(flipped(stored, frameOffsets()[0]! + 5, 0x01), 'CODEC_CORRUPT', /reserved bits/);
  });
  test('truncated inside a frame', () => assertDecodeFails(stored.subarray(0, frameOffsets()[1]! + 100), 'CODEC_CORRUPT', /truncated/));
  test('truncated inside the end marker', () => assertDecodeFails(stored.subarray(0, stored.length - 3), 'CODEC_CORRUPT', /truncated/));
  test('truncated exactly at a frame boundary', async () => {
    // Valid LZ4 up to here: only walship's end marker reveals the cut.
    const cut = stored.subarray(0, frameOffsets()[2]!);
    await assertDecodeFails(cut, 'CODEC_CORRUPT', /truncated/);
  });
  test('a whole frame missing in the middle', async () => {
    const [, second, third] = frameOffsets();
    const spliced = Buffer.concat([stored.subarray(0, second!), stored.subarray(third!)]);
    await assertDecodeFails(spliced, 'CODEC_CORRUPT', /missing or extra/);
  });
  test('trailing garbage', () => assertDecodeFails(Buffer.concat([stored, Buffer.from('xy')]), 'CODEC_CORRUPT', /trailing/));
  test('a frame after the end marker', async () => {
    const extra = Buffer.concat([stored, await compressFrame(Buffer.from('more'))]);
    await assertDecodeFails(extra, 'CODEC_CORRUPT', /follows/);
  });
  test('a foreign frame cut inside a block', async () => {
    const frame = await compressFrame(await walLikeBuffer(1 << 20));
    assert.equal(frame.readUInt32LE(0), LZ4_FRAME_MAGIC);
    await assertDecodeFails(frame.subarray(0, frame.length >> 1), 'CODEC_CORRUPT', /truncated/);
  });
});
