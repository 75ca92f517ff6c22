import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compressionFromKey, encodingFromMetadata, encodingMetadata, extensionFor } from '../../agent/codec/index.ts';
import { isWalshipError } from '../../agent/errors.ts';

test("extensions follow WAL-G's", () => {
  assert.deepEqual(
    (['lz4', 'zstd', 'brotli', 'gzip', 'none'] as const).map(extensionFor),
    ['.lz4', '.zst', '.br', '.gz', ''],
  );
});

test('compression from the key extension', () => {
  assert.equal(compressionFromKey('wal_005/000000010000000000000001.lz4'), 'lz4');
  assert.equal(compressionFromKey('wal_005/000000010000000000000001.zst'), 'zstd');
  assert.equal(compressionFromKey('wal_005/00000002.history.br'), 'brotli');
  assert.equal(compressionFromKey('basebackups_005/base_000000010000000000000002/tar_partitions/part_1.tar.gz'), 'gzip');
  assert.equal(compressionFromKey('wal_005/000000010000000000000001'), 'none');
  assert.equal(compressionFromKey('wal_005/00000002.history'), 'none');
  assert.equal(compressionFromKey('wal_005/000000010000000000000001.lzma'), 'lzma', "WAL-G's lzma is read");
  assert.equal(compressionFromKey('wal_005/000000010000000000000001.'), 'none', "WAL-G <= 3.0.8's name for an uncompressed file");
  assert.throws(() => compressionFromKey('wal_005/000000010000000000000001.lzo'), (err: unknown) => isWalshipError(err, 'CODEC_UNSUPPORTED'));
});

test('metadata records the encoding in lower-case keys and ASCII values', () => {
  const meta = encodingMetadata({ compression: 'zstd', encrypted: true });
  assert.deepEqual(meta, { 'walship-compression': 'zstd', 'walship-encryption': 'openpgp' });
  for (const [k, v] of Object.entries(encodingMetadata({ compression: 'none', encrypted: false }))) {
    assert.equal(k, k.toLowerCase());
    assert.match(v, /^[\x20-\x7e]+$/);
  }
});

test('metadata round-trips, and wins over the extension and the fallback', () => {
  for (const compression of ['lz4', 'zstd', 'brotli', 'gzip', 'none'] as const) {
    for (const encrypted of [false, true]) {
      assert.deepEqual(encodingFromMetadata('x.lz4', encodingMetadata({ compression, encrypted }), !encrypted), { compression, encrypted });
    }
  }
});

test('without metadata: compression from the extension, encryption from the fallback (WAL-G objects)', () => {
  assert.deepEqual(encodingFromMetadata('wal_005/000000010000000000000001.lz4', undefined, true), { compression: 'lz4', encrypted: true });
  assert.deepEqual(encodingFromMetadata('wal_005/000000010000000000000001.zst', {}, false), { compression: 'zstd', encrypted: false });
  assert.deepEqual(encodingFromMetadata('wal_005/000000010000000000000001.br', { 'walship-encryption': 'none' }, true), {
    compression: 'brotli',
    encrypted: false,
  });
});

test('metadata keys are matched whatever case the store returns them in', () => {
  assert.deepEqual(encodingFromMetadata('k', { 'Walship-Compression': 'GZIP', 'WALSHIP-ENCRYPTION': 'OpenPGP' }, false), {
    compression: 'gzip',
    encrypted: true,
  });
});

test('unknown metadata values are CODEC_UNSUPPORTED, not guessed', () => {
  assert.throws(() => encodingFromMetadata('k.lz4', { 'walship-compression': 'xz' }, false), (err: unknown) => isWalshipError(err, 'CODEC_UNSUPPORTED'));
  assert.throws(() => encodingFromMetadata('k.lz4', { 'walship-encryption': 'age' }, false), (err: unknown) => isWalshipError(err, 'CODEC_UNSUPPORTED'));
});
