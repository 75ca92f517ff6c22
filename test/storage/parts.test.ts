import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { growingPartSize, readParts, type Part } from '../../agent/storage/parts.ts';
import { uploadInParts, type PartSink } from '../../agent/storage/part-upload.ts';

// The part splitter and upload algorithm shared by the S3 and Azure drivers,
// with tiny parts so every boundary case is cheap to reach.

const chunksOf = (...texts: string[]) => Readable.from(texts.map((t) => Buffer.from(t)));

async function cut(source: Readable, size: number): Promise<{ number: number; text: string; last: boolean }[]> {
  const out = [];
  for await (const p of readParts(source, () => size)) {
    out.push({ number: p.number, text: p.data.toString(), last: p.last });
    p.release();
  }
  return out;
}

describe('readParts', () => {
  test('an empty body is one empty, last part', async () => {
    assert.deepEqual(await cut(chunksOf(), 4), [{ number: 1, text: '', last: true }]);
  });

  test('a body shorter than a part is one last part', async () => {
    assert.deepEqual(await cut(chunksOf('ab', 'c'), 4), [{ number: 1, text: 'abc', last: true }]);
  });

  test('a body of exactly one part is known to be the last', async () => {
    assert.deepEqual(await cut(chunksOf('ab', 'cd'), 4), [{ number: 1, text: 'abcd', last: true }]);
  });

  test('chunks that straddle parts are split, and the final full part is last', async () => {
    assert.deepEqual(await cut(chunksOf('abc', 'defgh', '', 'ijkl'), 4), [
      { number: 1, text: 'abcd', last: false },
      { number: 2, text: 'efgh', last: false },
      { number: 3, text: 'ijkl', last: true },
    ]);
  });

  test('a short final part follows full ones', async () => {
    assert.deepEqual(await cut(chunksOf('abcdefghij'), 4), [
      { number: 1, text: 'abcd', last: false },
      { number: 2, text: 'efgh', last: false },
      { number: 3, text: 'ij', last: true },
    ]);
  });

  test('part sizes follow the schedule', async () => {
    const sizes: number[] = [];
    for await (const p of readParts(chunksOf('x'.repeat(13)), growingPartSize(2, 2))) sizes.push(p.data.length);
    assert.deepEqual(sizes, [2, 2, 4, 4, 1]);
  });

  test('released buffers are reused for later parts rather than reallocated', async () => {
    const seen = new Set<ArrayBufferLike>();
    for await (const p of readParts(chunksOf('x'.repeat(40)), () => 4)) {
      if (p.number > 1) seen.add(p.data.buffer);
      p.release();
    }
    assert.ok(seen.size <= 2, `parts 2-10 used ${seen.size} buffers`);
  });
});

interface SinkLog {
  calls: string[];
  maxInFlight: number;
}

function fakeSink(options: { failPart?: number; failComplete?: boolean } = {}): { sink: PartSink<number>; log: SinkLog } {
  const log: SinkLog = { calls: [], maxInFlight: 0 };
  let inFlight = 0;
  const sink: PartSink<number> = {
    async putWhole(data) {
      log.calls.push(`whole:${data.toString()}`);
    },
    async begin() {
      log.calls.push('begin');
    },
    async putPart(part: Part, signal) {
      inFlight++;
      log.maxInFlight = Math.max(log.maxInFlight, inFlight);
      try {
        await new Promise((r) => setTimeout(r, 5));
        if (signal.aborted) throw new Error('aborted');
        if (part.number === options.failPart) throw new Error(`part ${part.number} failed`);
        log.calls.push(`part:${part.number}:${part.data.toString()}`);
        return part.number;
      } finally {
        inFlight--;
      }
    },
    async complete(receipts) {
      if (options.failComplete) throw new Error('complete failed');
      log.calls.push(`complete:${receipts.join(',')}`);
    },
    async abandon() {
      log.calls.push('abandon');
    },
  };
  return { sink, log };
}

describe('uploadInParts', () => {
  const plan = (concurrency: number, signal?: AbortSignal) => ({ partSize: () => 4, concurrency, ...(signal ? { signal } : {}) });

  test('a body that fits in one part is a single request', async () => {
    const { sink, log } = fakeSink();
    await uploadInParts(chunksOf('abc'), plan(2), sink);
    assert.deepEqual(log.calls, ['whole:abc']);
  });

  test('a larger body goes up in order-preserving parts, a bounded number at a time', async () => {
    const { sink, log } = fakeSink();
    await uploadInParts(chunksOf('x'.repeat(30)), plan(3), sink);
    assert.equal(log.calls[0], 'begin');
    assert.equal(log.calls.at(-1), 'complete:1,2,3,4,5,6,7,8');
    assert.ok(log.maxInFlight <= 3 && log.maxInFlight >= 2, `in flight: ${log.maxInFlight}`);
  });

  test('progress is reported as each part is stored and as completion starts', async () => {
    const { sink } = fakeSink();
    let progress = 0;
    await uploadInParts(chunksOf('x'.repeat(10)), { ...plan(2), onProgress: () => progress++ }, sink);
    assert.equal(progress, 3 + 1);
  });

  test('a failed part abandons the upload and is the error reported', async () => {
    const { sink, log } = fakeSink({ failPart: 3 });
    const source = chunksOf('x'.repeat(40));
    await assert.rejects(uploadInParts(source, plan(2), sink), /part 3 failed/);
    assert.ok(log.calls.includes('abandon'));
    assert.ok(!log.calls.some((c) => c.startsWith('complete')));
    assert.ok(source.destroyed);
  });

  test('a failed completion abandons the upload', async () => {
    const { sink, log } = fakeSink({ failComplete: true });
    await assert.rejects(uploadInParts(chunksOf('x'.repeat(10)), plan(2), sink), /complete failed/);
    assert.equal(log.calls.at(-1), 'abandon');
  });

  test("a failing source abandons the upload with the source's error", async () => {
    const { sink, log } = fakeSink();
    let pushed = 0;
    const source = new Readable({
      read() {
        if (pushed++ < 3) this.push(Buffer.from('abcd'));
        else this.destroy(new Error('producer broke'));
      },
    });
    await assert.rejects(uploadInParts(source, plan(2), sink), /producer broke/);
    assert.equal(log.calls.at(-1), 'abandon');
  });

  test("the caller's abort stops a stalled source", async () => {
    const { sink } = fakeSink();
    const stalled = new Readable({ read() {} });
    stalled.push(Buffer.from('abcdefgh'));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(uploadInParts(stalled, plan(2, controller.signal), sink));
    assert.ok(stalled.destroyed);
  });
});
