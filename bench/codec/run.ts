// Codec benchmark on a real WAL segment: MiB/s to compress and decompress,
// and the stored size, for each compression method, for OpenPGP alone and
// for lz4 + OpenPGP (the default with encryption).
//
//   node bench/codec/run.ts [--iterations N] [--scale S] [SEGMENT_FILE]
//
// (npm run bench:codec does the same after a build.)
//
// Without SEGMENT_FILE it builds one with a throwaway PostgreSQL 15 cluster
// and pgbench (as root, through runuser -u postgres).

import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { generateKey } from 'openpgp';
import { createCodec } from '../../agent/codec/index.ts';
import type { CodecConfig } from '../../agent/config/types.ts';
import { formatTable, summarize, timeOnce, type Sample } from './measure.ts';
import { generateWalSegment } from './wal-segment.ts';

const { values, positionals } = parseArgs({
  options: {
    iterations: { type: 'string', default: '9' },
    scale: { type: 'string', default: '10' },
  },
  allowPositionals: true,
});
const iterations = Number(values.iterations);
const log = (line: string) => process.stderr.write(`${line}\n`);

const segment = positionals[0] !== undefined ? await readFile(positionals[0]) : await generateWalSegment(Number(values.scale), log);

// A v4 curve25519 (legacy) key, the kind gpg 2.2 reads; the per-object
// public-key operation is negligible next to the symmetric work on 16 MiB.
const { privateKey } = await generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'walship bench' }], format: 'armored' });
const pgp = { armoredKey: privateKey };

const configs: { label: string; config: CodecConfig }[] = [
  { label: 'lz4', config: { compression: 'lz4' } },
  { label: 'zstd (level 1)', config: { compression: 'zstd' } },
  { label: 'brotli (quality 1)', config: { compression: 'brotli' } },
  { label: 'gzip (level 1)', config: { compression: 'gzip' } },
  { label: 'none', config: { compression: 'none' } },
  { label: 'openpgp only', config: { compression: 'none', pgp } },
  { label: 'lz4 + openpgp', config: { compression: 'lz4', pgp } },
  { label: 'zstd + openpgp', config: { compression: 'zstd', pgp } },
];

log(`measuring ${iterations} rounds (median) on ${segment.length} bytes, Node ${process.version}, ${availableParallelism()} CPUs, load ${loadavg()[0]!.toFixed(1)}`);
const codecs = await Promise.all(configs.map(async ({ label, config }) => ({ label, codec: await createCodec(config) })));
const samples = new Map<string, Sample[]>(configs.map(({ label }) => [label, []]));
// Round -1 warms up the JIT and the native libraries and is not counted.
for (let round = -1; round < iterations; round++) {
  for (const { label, codec } of codecs) {
    const sample = await timeOnce(label, codec, segment);
    if (round >= 0) samples.get(label)!.push(sample);
  }
  log(`  round ${round + 1}/${iterations}`);
}
const rows = codecs.map(({ label }) => summarize(label, segment.length, samples.get(label)!));
process.stdout.write(`${formatTable(segment.length, rows)}\n`);
