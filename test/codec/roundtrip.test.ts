import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { createCodec, type Codec, type Encoding } from '../../agent/codec/index.ts';
import { LZ4_BLOCK_BYTES } from '../../agent/codec/lz4-blocks.ts';
import type { CompressionMethod } from '../../agent/config/types.ts';
import { walLikeStream } from '../support/codec-data.ts';
import { generateTestKey, type TestKey } from '../support/pgp-keys.ts';
import { readAll, sha256Of } from '../support/streams.ts';

const METHODS: CompressionMethod[] = ['lz4', 'zstd', 'brotli', 'gzip', 'none'];
const SIZES: { name: string; bytes: number }[] = [
  { name: 'empty', bytes: 0 },
  { name: '1 byte', bytes: 1 },
  { name: 'exactly one lz4 chunk', bytes: LZ4_BLOCK_BYTES },
  { name: 'one chunk and a byte', bytes: LZ4_BLOCK_BYTES + 1 },
  { name: 'multi-chunk (24 MiB and change)', bytes: (24 << 20) + 4567 },
];

let key: TestKey;
before(async () => {
  key = await generateTestKey('curve25519Legacy');
});

for (const compression of METHODS) {
  for (const encrypted of [false, true]) {
    describe(`round trip: ${compression}${encrypted ? ' + openpgp' : ''}`, () => {
      let codec: Codec;
      before(async () => {
        codec = await createCodec({ compression, ...(encrypted ? { pgp: { armoredKey: key.armoredPrivate } } : {}) });
      });

      test('encoding says what encode writes', () => {
        assert.deepEqual(codec.encoding, { compression, encrypted } satisfies Encoding);
      });

      for (const size of SIZES) {
        test(size.name, async () => {
          const expected = await sha256Of(walLikeStream(size.bytes));
          const stored = await readAll(codec.encode(walLikeStream(size.bytes)));
          if (size.bytes > 1000 && compression !== 'none') {
            assert.ok(stored.length < size.bytes / 2, `compressed ${size.bytes} to ${stored.length}`);
          }
          const decoded = await sha256Of(codec.decode(Readable.from([stored]), codec.encoding));
          assert.equal(decoded.bytes, size.bytes);
          assert.equal(decoded.hex, expected.hex);
        });
      }
    });
  }
}

test('decode follows the object, not the codec configuration', async () => {
  const writer = await createCodec({ compression: 'zstd', pgp: { armoredKey: key.armoredPublic } });
  const reader = await createCodec({ compression: 'gzip', pgp: { armoredKey: key.armoredPrivate } });
  const stored = await readAll(writer.encode(walLikeStream(100_000)));
  const decoded = await sha256Of(reader.decode(Readable.from([stored]), { compression: 'zstd', encrypted: true }));
  assert.equal(decoded.hex, (await sha256Of(walLikeStream(100_000))).hex);
  // A plain object read by a codec that has a key.
  const plainWriter = await createCodec({ compression: 'brotli' });
  const plainStored = await readAll(plainWriter.encode(walLikeStream(5000)));
  assert.equal((await sha256Of(reader.decode(Readable.from([plainStored]), { compression: 'brotli', encrypted: false }))).bytes, 5000);
});
