// Child process for the codec's bounded-memory test: pushes `size` bytes
// through encode (lz4 + OpenPGP) and straight into decode, hashing both ends,
// then reports the process's peak RSS as JSON on stdout. A child, so the
// measurement is not polluted by the test runner or other tests.

import { createHash } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCodec } from '../../agent/codec/index.ts';
import { walLikeStream } from './codec-data.ts';
import { generateTestKey } from './pgp-keys.ts';

const size = Number(process.argv[2]);
const key = await generateTestKey('curve25519Legacy');
const codec = await createCodec({ compression: 'lz4', pgp: { armoredKey: key.armoredPrivate } });

const inHash = createHash('sha256');
const outHash = createHash('sha256');
let outBytes = 0;
const tap = new Transform({
  transform(chunk: Buffer, _encoding, callback) {
    inHash.update(chunk);
    callback(null, chunk);
  },
});
const started = performance.now();
const source = walLikeStream(size).pipe(tap);
await pipeline(
  codec.decode(codec.encode(source), codec.encoding),
  new Writable({
    write(chunk: Buffer, _encoding, callback) {
      outHash.update(chunk);
      outBytes += chunk.length;
      callback();
    },
  }),
);
process.stdout.write(
  JSON.stringify({
    bytes: outBytes,
    same: inHash.digest('hex') === outHash.digest('hex'),
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    seconds: (performance.now() - started) / 1000,
  }),
);
