import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Xxh32, xxh32 } from '../../agent/codec/xxhash32.ts';

// Reference values from the xxHash specification's test vectors and the lz4 CLI.
test('matches reference XXH32 values', () => {
  assert.equal(xxh32(Buffer.alloc(0)), 0x02cc5d05);
  assert.equal(xxh32(Buffer.from('a')), 0x550d7456);
  assert.equal(xxh32(Buffer.from('abc')), 0x32d153ff);
  assert.equal(xxh32(Buffer.from('Nobody inspects the spammish repetition')), 0xe2293b2f);
  // An LZ4 frame header checksum, as the lz4 CLI writes it for FLG 0x64, BD 0x70.
  assert.equal((xxh32(Buffer.from([0x64, 0x70])) >>> 8) & 0xff, 0xb9);
});

test('streaming in any split gives the one-shot result', () => {
  const data = Buffer.alloc(1000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  const expected = xxh32(data);
  for (const step of [1, 3, 15, 16, 17, 999]) {
    const h = new Xxh32();
    for (let i = 0; i < data.length; i += step) h.update(data.subarray(i, i + step));
    assert.equal(h.digest(), expected, `step ${step}`);
  }
  assert.equal(new Xxh32(1).update(data).digest(), xxh32(data, 1));
});
