import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acquireSegmentBuffer, releaseSegmentBuffer } from '../../agent/wal/segment-buffers.ts';

// The pool of segment buffers must keep serving whole segments whatever
// small files pass through it.

const SEGMENT = 1 << 20;

test('small buffers never crowd segment buffers out of the pool, and a small request takes the smallest fit', () => {
  // A test file runs in its own process: the pool starts empty.
  const segment = acquireSegmentBuffer(SEGMENT);

  const small = Array.from({ length: 8 }, () => acquireSegmentBuffer(64));
  for (const b of small) releaseSegmentBuffer(b);
  releaseSegmentBuffer(segment);
  assert.equal(acquireSegmentBuffer(SEGMENT), segment, 'the segment buffer was kept in a pool full of small ones');

  releaseSegmentBuffer(segment);
  const forHistoryFile = acquireSegmentBuffer(40);
  assert.notEqual(forHistoryFile, segment, 'a small file gets a small buffer');
  assert.equal(acquireSegmentBuffer(SEGMENT), segment);
});
