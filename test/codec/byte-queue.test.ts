import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteQueue } from '../../agent/codec/byte-queue.ts';
import { isWalshipError } from '../../agent/errors.ts';

function queueOf(...parts: string[]): ByteQueue {
  const q = new ByteQueue();
  for (const p of parts) q.push(Buffer.from(p));
  return q;
}

test('reads across chunk boundaries and keeps the rest of a partly merged chunk', () => {
  const q = queueOf('ab', 'cdef', 'gh');
  assert.equal(q.read(1).toString(), 'a');
  assert.equal(q.read(3).toString(), 'bcd'); // merges from the middle of 'cdef'
  assert.equal(q.length, 4);
  assert.equal(q.read(3).toString(), 'efg');
  assert.equal(q.read(1).toString(), 'h');
  assert.equal(q.length, 0);
});

test('peeks without consuming, and reads 32-bit integers across chunks', () => {
  const q = new ByteQueue();
  q.push(Buffer.from([0x04, 0x22]));
  q.push(Buffer.from([0x4d]));
  q.push(Buffer.from([0x18, 0x99]));
  assert.equal(q.peekUInt32LE(), 0x184d2204);
  assert.equal(q.length, 5);
  assert.equal(q.skip(4), 4);
  assert.deepEqual([...q.read(1)], [0x99]);
});

test('skip drops at most what is queued; zero-length reads are empty', () => {
  const q = queueOf('abc', 'de');
  assert.equal(q.skip(10), 5);
  assert.equal(q.length, 0);
  assert.equal(q.read(0).length, 0);
  assert.throws(() => q.read(1), (err: unknown) => isWalshipError(err, 'INTERNAL'));
});
