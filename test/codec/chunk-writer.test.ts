import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Lz4ChunkWriter, PlainChunkWriter, type ChunkWriter } from '../../agent/codec/chunk-writer.ts';
import { createCodec } from '../../agent/codec/index.ts';
import { LZ4_FRAME_INPUT_BYTES } from '../../agent/codec/lz4-encoder.ts';
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

test('LZ4 output decodes with walship and with the lz4 CLI, in batches that own their memory', async () => {
  const data = await walLikeBuffer(40 * LZ4_FRAME_INPUT_BYTES + 12_345);
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
  const frames = new Lz4FrameParser().feed(stored).filter((e) => e.kind === 'frame-start');
  assert.equal(frames.length, 41);
  for (const f of frames) {
    assert.equal(f.descriptor.blockIndependent, true);
    assert.equal(f.descriptor.contentChecksum, false);
    assert.equal(f.descriptor.blockMaxSize, LZ4_FRAME_INPUT_BYTES);
  }
  assert.equal(frames.reduce((sum, f) => sum + Number(f.descriptor.contentSize), 0), data.length, 'each frame records its size');
  assert.ok(reclaimer.due, 'the writer reports what the native calls allocated');
  reclaimer.collectIfDue();
  assert.ok(!reclaimer.due);
});

test('an empty stream is just the markers, and still decodes', async () => {
  const batches = writeThrough(new Lz4ChunkWriter(), Buffer.alloc(0));
  const codec = await createCodec({ compression: 'lz4' });
  assert.equal((await readAll(codec.decode(Readable.from(batches), { compression: 'lz4', encrypted: false }))).length, 0);
});

test('the plain writer hands the bytes on unchanged', async () => {
  const data = await walLikeBuffer(2_500_000);
  assert.ok(Buffer.concat(writeThrough(new PlainChunkWriter(), data)).equals(data));
});
