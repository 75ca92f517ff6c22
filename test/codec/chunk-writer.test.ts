import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { decompressFrameSync } from 'lz4-napi';
import { Lz4ChunkWriter, PlainChunkWriter, type ChunkWriter } from '../../agent/codec/chunk-writer.ts';
import { createCodec } from '../../agent/codec/index.ts';
import { LZ4_BLOCK_BYTES } from '../../agent/codec/lz4-blocks.ts';
import { Lz4FrameParser } from '../../agent/codec/lz4-frame-parser.ts';
import { Reclaimer } from '../../agent/util/reclaim.ts';
import { runTool } from '../support/codec-cli.ts';
import { walLikeBuffer } from '../support/codec-data.ts';
import { readAll } from '../support/streams.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walship-chunk-writer-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Writes data through the writer the way a producer does: in place, in uneven pieces, with an early flush. */
function writeThrough(writer: ChunkWriter, data: Buffer): Buffer[] {
  const batches: Buffer[] = [];
  let offset = 0;
  let step = 1;
  while (offset < data.length) {
    const space = writer.space();
    assert.ok(space.length > 0);
    const n = data.copy(space, 0, offset, Math.min(data.length, offset + Math.min(space.length, step)));
    writer.commit(n);
    offset += n;
    step = (step * 7 + 12_345) % (300 << 10);
    if (offset > 100_000 && offset - n <= 100_000) writer.flush();
    batches.push(...writer.ready.splice(0));
  }
  writer.end();
  batches.push(...writer.ready.splice(0));
  return batches;
}

test('LZ4 output is one frame that decodes whole with walship, the lz4 CLI and a first-frame-only reader, in batches that own their memory', async () => {
  const data = await walLikeBuffer(40 * LZ4_BLOCK_BYTES + 12_345);
  const reclaimer = new Reclaimer();
  const batches = writeThrough(new Lz4ChunkWriter(reclaimer), data);
  assert.ok(batches.length > 1);
  for (const b of batches) assert.equal(b.byteOffset, 0, 'a batch starts its own ArrayBuffer, so it can be transferred');
  const stored = Buffer.concat(batches);
  assert.ok(stored.length < data.length / 2, 'it compresses');
  const codec = await createCodec({ compression: 'lz4' });
  assert.ok((await readAll(codec.decode(Readable.from(batches), { compression: 'lz4', encrypted: false }))).equals(data));
  const file = join(dir, 'out.lz4');
  await writeFile(file, stored);
  await runTool('lz4', ['-d', '-f', file, join(dir, 'out')]);
  assert.ok((await readFile(join(dir, 'out'))).equals(data));
  const events = new Lz4FrameParser().feed(stored);
  const frames = events.filter((e) => e.kind === 'frame-start');
  assert.equal(frames.length, 1, 'one frame, which WAL-G <= 3.0.8 reads whole');
  assert.equal(stored.readUInt32LE(0), 0x184d2204, 'the object starts with the frame magic');
  assert.equal(frames[0]!.descriptor.blockIndependent, true);
  assert.equal(frames[0]!.descriptor.contentChecksum, true);
  assert.equal(frames[0]!.descriptor.blockMaxSize, LZ4_BLOCK_BYTES);
  assert.ok(events.filter((e) => e.kind === 'block').length > 40, 'the early flush makes one short block');
  // lz4-napi stops at the first end mark, as pierrec/lz4 v4.1.21 does.
  assert.ok(decompressFrameSync(stored).equals(data));
  assert.ok(reclaimer.due, 'the writer reports what the native calls allocated');
  reclaimer.collectIfDue();
  assert.ok(!reclaimer.due);
});

test('an empty stream is an empty frame, and still decodes', async () => {
  const batches = writeThrough(new Lz4ChunkWriter(), Buffer.alloc(0));
  assert.equal(decompressFrameSync(Buffer.concat(batches)).length, 0);
  const codec = await createCodec({ compression: 'lz4' });
  assert.equal((await readAll(codec.decode(Readable.from(batches), { compression: 'lz4', encrypted: false }))).length, 0);
});

test('the plain writer hands the bytes on unchanged', async () => {
  const data = await walLikeBuffer(2_500_000);
  assert.ok(Buffer.concat(writeThrough(new PlainChunkWriter(), data)).equals(data));
});
