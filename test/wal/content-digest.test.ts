import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { xxh64 } from '@node-rs/xxhash';
import { archivedDigest, createDigester, digestFile, digestMetadata, digestOf, digestTap } from '../../agent/wal/content-digest.ts';

const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
const xxh64Hex = xxh64(data).toString(16).padStart(16, '0');

test('every way of digesting gives the same xxh64, incremental or whole, file or stream', async () => {
  assert.deepEqual(digestOf(data), { algorithm: 'xxh64', hex: xxh64Hex });
  const digester = createDigester();
  for (let at = 0; at < data.length; at += 65_537) digester.update(data.subarray(at, at + 65_537));
  assert.deepEqual(digester.digest(), { algorithm: 'xxh64', hex: xxh64Hex });
  const dir = await mkdtemp(join(tmpdir(), 'walship-digest-'));
  try {
    await writeFile(join(dir, 'f'), data);
    assert.deepEqual(await digestFile(join(dir, 'f')), { algorithm: 'xxh64', hex: xxh64Hex });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const tap = digestTap('sha256');
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), tap.stream, new Writable({ write: (_c, _e, cb) => cb() }));
  assert.deepEqual(tap.digest(), { algorithm: 'sha256', hex: createHash('sha256').update(data).digest('hex') });
});

test('small values keep their leading zeros', () => {
  // Found by search: an input whose xxh64 is below 2^60 prints with a leading zero.
  let input = 0;
  while (xxh64(Buffer.from(String(input))) >= 1n << 60n) input++;
  const { hex } = digestOf(Buffer.from(String(input)));
  assert.equal(hex.length, 16);
  assert.equal(hex[0], '0');
});

test("an archived object's checksum is read whatever the store did to the metadata key's case, the current algorithm first", () => {
  const key = 'wal_005/000000010000000000000001.lz4';
  const info = (metadata: Record<string, string>) => ({ key, size: 1, lastModified: new Date(0), metadata });
  assert.deepEqual(archivedDigest(info(digestMetadata({ algorithm: 'xxh64', hex: xxh64Hex }))), { algorithm: 'xxh64', hex: xxh64Hex });
  assert.deepEqual(archivedDigest(info({ 'Walship-Sha256': 'AB'.repeat(32) })), { algorithm: 'sha256', hex: 'ab'.repeat(32) });
  assert.deepEqual(archivedDigest(info({ 'walship-sha256': 'ab'.repeat(32), 'walship-xxh64': xxh64Hex })), { algorithm: 'xxh64', hex: xxh64Hex });
  assert.equal(archivedDigest(info({ 'walship-size': '16777216' })), undefined);
  assert.equal(archivedDigest({ key, size: 1, lastModified: new Date(0) }), undefined);
});
