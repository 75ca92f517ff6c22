import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createCodec, type Codec } from '../../agent/codec/index.ts';
import type { CompressionMethod } from '../../agent/config/types.ts';
import { isWalshipError } from '../../agent/errors.ts';
import { runTool } from '../support/codec-cli.ts';
import { flipped, sha256, walLikeBuffer } from '../support/codec-data.ts';
import { readAll } from '../support/streams.ts';

let dir: string;
const codecs = new Map<CompressionMethod, Codec>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walship-compression-'));
  for (const m of ['lz4', 'zstd', 'brotli', 'gzip', 'none'] as const) codecs.set(m, await createCodec({ compression: m }));
});
after(() => rm(dir, { recursive: true, force: true }));


function encode(method: CompressionMethod, plain: Buffer): Promise<Buffer> {
  return readAll(codecs.get(method)!.encode(Readable.from([plain])));
}

function decode(method: CompressionMethod, stored: Buffer | Readable): Promise<Buffer> {
  const source = Buffer.isBuffer(stored) ? Readable.from([stored]) : stored;
  return readAll(codecs.get(method)!.decode(source, { compression: method, encrypted: false }));
}

/** Runs the zstd CLI with `args` on `input`; returns what it wrote. */
async function zstdCli(args: string[], input: Buffer, name: string): Promise<Buffer> {
  const inFile = join(dir, `${name}.in`);
  const outFile = join(dir, `${name}.out`);
  await writeFile(inFile, input);
  await runTool('zstd', ['-q', '-f', ...args, inFile, '-o', outFile]);
  return readFile(outFile);
}

describe('encodeWhole, for a WAL segment already in memory', () => {
  test('writes what encode writes: the same bytes for lz4, output the decoder reads for the others', async () => {
    const frame = 256 << 10;
    for (const size of [0, 1, frame - 1, frame, frame + 1, 16 << 20]) {
      const plain = await walLikeBuffer(size, `whole-${size}`);
      const whole = await codecs.get('lz4')!.encodeWhole(plain);
      assert.ok(whole.equals(await encode('lz4', plain)), `lz4, ${size} bytes: byte for byte the stream's output`);
      assert.equal(sha256(await decode('lz4', whole)), sha256(plain));
    }
    // A segment ended by a switch: zeros from there on, whole chunks of them and a partly filled one.
    const switched = Buffer.concat([await walLikeBuffer(5 * frame + 300, 'whole-switched'), Buffer.alloc(11 * frame - 300)]);
    const wholeSwitched = await codecs.get('lz4')!.encodeWhole(switched);
    assert.ok(wholeSwitched.equals(await encode('lz4', switched)), 'a zero-padded segment: byte for byte the stream');
    assert.ok((await decode('lz4', wholeSwitched)).equals(switched), 'a zero-padded segment decodes whole');
    assert.ok(wholeSwitched.length < 6 * frame, 'the zeros compressed');
    const plain = await walLikeBuffer(3 * frame + 5, 'whole-others');
    for (const method of ['zstd', 'brotli', 'gzip', 'none'] as const) {
      assert.equal(sha256(await decode(method, await codecs.get(method)!.encodeWhole(plain))), sha256(plain), method);
    }
  });
});

describe('growingEncoder, for a segment still being written', () => {
  /** Fills a copy of plain step by step, advancing the encoder over what is filled, as the segment follower does. */
  async function grow(method: 'lz4' | 'zstd', plain: Buffer, steps: number[]): Promise<Buffer> {
    const buffer = Buffer.alloc(plain.length + 1000, 0xee);
    const encoder = codecs.get(method)!.growingEncoder(buffer);
    let filled = 0;
    for (const step of steps) {
      const next = Math.min(plain.length, filled + step);
      plain.copy(buffer, filled, filled, next);
      filled = next;
      encoder.advance(filled);
    }
    plain.copy(buffer, filled, filled);
    return encoder.finish(plain.length);
  }

  test('ends with what encodeWhole makes of the finished content, however the content came in', async () => {
    const frame = 256 << 10;
    for (const [size, steps] of [
      [0, []],
      [frame - 1, [100]],
      [frame, [frame]],
      [frame + 1, [frame, 1]],
      [5 * frame + 7, [8192, 3 * frame + 1, 8192, frame]],
      [16 << 20, Array.from({ length: 20 }, () => 8192 * 61)],
      [-(16 << 20), [frame * 3 + 8192, 8192]],
    ] as [number, number[]][]) {
      // A negative size: that many bytes, the last two thirds zeros, as a segment ended by a switch.
      const written = Math.floor(-size / 3);
      const plain = size >= 0 ? await walLikeBuffer(size, `grow-${size}`) : Buffer.concat([await walLikeBuffer(written, 'grow-switched'), Buffer.alloc(-size - written)]);
      const whole = await codecs.get('lz4')!.encodeWhole(plain);
      const grown = await grow('lz4', plain, steps);
      assert.ok(grown.equals(whole), `lz4, ${size} bytes in steps ${steps.slice(0, 3).join(',')}: byte for byte encodeWhole`);
      assert.ok((await decode('lz4', grown)).equals(plain), `lz4, ${size} bytes: decodes to the content`);
    }
    const plain = await walLikeBuffer(3 * frame + 5, 'grow-zstd');
    assert.equal(sha256(await decode('zstd', await grow('zstd', plain, [frame, 100, frame]))), sha256(plain), 'zstd, through the stream');
  });
});

describe('interop with the zstd and gzip command-line tools', () => {
  test('zstd -d reads our zstd', async () => {
    const plain = await walLikeBuffer(9 << 20, 'zstd-out');
    assert.equal(sha256(await zstdCli(['-d'], await encode('zstd', plain), 'zstd-out')), sha256(plain));
  });

  for (const flags of [[], ['-19'], ['-T2', '-3'], ['--long=27'], ['--no-check']]) {
    test(`we read zstd ${flags.join(' ') || '(defaults)'}`, async () => {
      const plain = await walLikeBuffer(7 << 20, `zstd-in${flags.join('')}`);
      const stored = await zstdCli(flags, plain, `zstd-in${flags.join('')}`);
      assert.equal(sha256(await decode('zstd', stored)), sha256(plain));
    });
  }

  test('gzip -d reads our gzip, and we read gzip -6, including concatenated members', async () => {
    const plain = await walLikeBuffer(6 << 20, 'gzip');
    const ours = join(dir, 'ours.gz');
    await writeFile(ours, await encode('gzip', plain));
    await runTool('gzip', ['-d', '-f', ours]);
    assert.equal(sha256(await readFile(join(dir, 'ours'))), sha256(plain));
    await writeFile(join(dir, 'theirs'), plain);
    await runTool('gzip', ['-6', '-f', join(dir, 'theirs')]);
    const theirs = await readFile(join(dir, 'theirs.gz'));
    assert.equal(sha256(await decode('gzip', theirs)), sha256(plain));
    assert.equal(sha256(await decode('gzip', Buffer.concat([theirs, theirs]))), sha256(Buffer.concat([plain, plain])));
  });
});

describe('corrupt or truncated input fails with CODEC_CORRUPT naming the format', () => {
  const cases: { method: CompressionMethod; format: RegExp }[] = [
    { method: 'lz4', format: /LZ4/ },
    { method: 'zstd', format: /zstd/ },
    { method: 'brotli', format: /brotli/ },
    { method: 'gzip', format: /gzip/ },
  ];
  for (const { method, format } of cases) {
    describe(method, () => {
      let plain: Buffer;
      let stored: Buffer;
      before(async () => {
        plain = await walLikeBuffer(2 << 20, method);
        stored = await encode(method, plain);
      });
      const fails = (input: Buffer) =>
        assert.rejects(decode(method, input), (err: unknown) => {
          assert.ok(isWalshipError(err, 'CODEC_CORRUPT'), `expected CODEC_CORRUPT, got ${String(err)}`);
          assert.match(err.message, format);
          return true;
        });
      test('empty input', () => fails(Buffer.alloc(0)));
      test('truncated', async () => {
        await fails(stored.subarray(0, stored.length >> 1));
        await fails(stored.subarray(0, stored.length - 1));
      });
      test('garbage', () => fails(Buffer.from('definitely not compressed data, just text')));
      test('trailing garbage', () => fails(Buffer.concat([stored, Buffer.from('garbage after the end')])));
      // brotli has no checksum, so a flipped byte can decode to wrong bytes
      // undetected; the other formats carry one (zstd's is turned on by us).
      if (method !== 'brotli') {
        test('a flipped byte', async () => {
          await fails(flipped(stored, stored.length >> 1, 0x20));
        });
      }
    });
  }

  test('concatenated zstd frames are refused rather than silently cut to the first', async () => {
    const a = await encode('zstd', Buffer.from('first frame '));
    const b = await encode('zstd', Buffer.from('second frame'));
    await assert.rejects(decode('zstd', Buffer.concat([a, b])), (err: unknown) => isWalshipError(err, 'CODEC_CORRUPT') && /concatenated zstd/.test(err.message));
  });
});

describe('stream plumbing', () => {
  for (const method of ['lz4', 'zstd', 'brotli', 'gzip', 'none'] as const) {
    test(`${method}: an error from the source is passed on as is, not reported as corruption`, async () => {
      const stored = await encode(method, await walLikeBuffer(1 << 20, 'source-error'));
      const networkError = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      const source = new Readable({
        read() {
          this.push(stored.subarray(0, 1000));
          this.destroy(networkError);
        },
      });
      await assert.rejects(decode(method, source), (err: unknown) => err === networkError);
    });
  }

  test('destroying the decoded stream releases the source', async () => {
    const stored = await encode('zstd', await walLikeBuffer(8 << 20, 'abort'));
    const source = Readable.from([stored.subarray(0, 100_000), stored.subarray(100_000)]);
    const decoded = codecs.get('zstd')!.decode(source, { compression: 'zstd', encrypted: false });
    for await (const _ of decoded) break; // for-await's early exit destroys the stream
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(source.destroyed);
  });
});
