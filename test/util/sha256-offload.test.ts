import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sha256Here, startSha256Worker } from '../../agent/util/sha256-offload.ts';

const expected = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('the worker hashes shared memory, views into it included, and many requests at once', async () => {
  const worker = startSha256Worker();
  try {
    const shared = Buffer.from(new SharedArrayBuffer(3 << 20));
    randomBytes(shared.length).copy(shared);
    const views = [shared, shared.subarray(1, 1 << 20), shared.subarray(2 << 20), shared.subarray(5, 5)];
    const digests = await Promise.all(views.map((v) => worker.digest(v)));
    assert.deepEqual(digests, views.map(expected));
  } finally {
    await worker.close();
  }
});

test('memory that is not shared is hashed in place, and so is everything after close()', async () => {
  const worker = startSha256Worker();
  const plain = randomBytes(1000);
  assert.equal(await worker.digest(plain), expected(plain));
  await worker.close();
  const shared = Buffer.from(new SharedArrayBuffer(64));
  shared.fill(7);
  assert.equal(await worker.digest(shared), expected(shared));
  assert.equal(await sha256Here(shared), expected(shared));
});

test('an idle worker does not keep the process alive', async () => {
  // Were it referenced, this test file would never exit: node --test would time it out.
  const worker = startSha256Worker();
  const shared = Buffer.from(new SharedArrayBuffer(16));
  assert.equal(await worker.digest(shared), expected(shared));
});
