import { xxh64 } from '@node-rs/xxhash';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import type { Config } from '../../agent/config/types.ts';
import { loadConfig } from '../../agent/config/load.ts';
import { encodingMetadata } from '../../agent/codec/index.ts';
import { isWalshipError, type ErrorCode } from '../../agent/errors.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { openStore } from '../../agent/storage/open.ts';
import { openWalArchive } from '../../agent/wal/archive.ts';
import { fetchWalFile } from '../../agent/wal/fetch.ts';
import { pushWalFile, type WalArchive } from '../../agent/wal/push.ts';
import { runWalship } from '../support/cli.ts';
import { runTool } from '../support/codec-cli.ts';
import { makeSegment, writeSegment } from '../support/wal-segments.ts';
import { testTransfer } from '../storage/contract.ts';

const SEG1 = '000000010000000000000001';
const SEG2 = '000000010000000000000002';
const SEG3 = '000000010000000000000003';

async function listFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((f) => !f.split('/').some((p) => p.startsWith('.'))).sort();
}

const rejectsWith = (p: Promise<unknown>, code: ErrorCode, pattern: RegExp) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(isWalshipError(e), `a catalogue error, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });

describe('wal-push and wal-fetch: the checks that keep the archive whole', () => {
  let dir: string;
  let storeRoot: string;
  let pgWal: string;
  let store: StorageDriver;
  let archive: WalArchive;
  let config: Config;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-wal-'));
    storeRoot = join(dir, 'store');
    pgWal = join(dir, 'pg_wal');
    await mkdir(pgWal);
    await mkdir(storeRoot);
    config = (await loadConfig({ env: { WALG_FILE_PREFIX: storeRoot } })).config;
    store = await openStore(config.store!, testTransfer);
    archive = await openWalArchive(config, store);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a pushed segment is stored compressed with its checksum, and fetches back byte for byte', async () => {
    const path = await writeSegment(pgWal, { name: SEG1 });
    const result = await pushWalFile(archive, path);
    assert.equal(result.outcome, 'uploaded');
    assert.equal(result.key, `wal_005/${SEG1}.lz4`);
    const info = await store.stat(result.key);
    assert.ok(info && info.size < 1024 * 1024, 'stored compressed');
    assert.equal(result.digest.algorithm, 'xxh64');
    assert.equal(info.metadata?.['walship-xxh64'], xxh64(await readFile(path)).toString(16).padStart(16, '0'));
    // One lz4 frame: a reader that stops at the first end mark (WAL-G <= 3.0.8's) and the lz4 CLI get the whole segment.
    const stored = join(storeRoot, result.key);
    assert.ok(decompressFrameSync(await readFile(stored)).equals(await readFile(path)));
    await runTool('lz4', ['-q', '-d', '-f', stored, join(dir, 'cli-out')]);
    assert.ok((await readFile(join(dir, 'cli-out'))).equals(await readFile(path)));

    const dest = join(dir, 'RECOVERYXLOG');
    const fetched = await fetchWalFile(archive, SEG1, dest);
    assert.equal(fetched.outcome, 'fetched');
    assert.deepEqual(await readFile(dest), await readFile(path));
  });

  test('pushing the same segment again succeeds without uploading', async () => {
    const path = join(pgWal, SEG1);
    const before = await store.stat(`wal_005/${SEG1}.lz4`);
    const again = await pushWalFile(archive, path);
    assert.equal(again.outcome, 'already-archived');
    const after = await store.stat(`wal_005/${SEG1}.lz4`);
    assert.equal(after?.lastModified.getTime(), before?.lastModified.getTime());
  });

  test('a different segment under an archived name fails loudly and keeps the archived copy', async () => {
    const other = join(dir, 'split-brain');
    await mkdir(other, { recursive: true });
    const path = await writeSegment(other, { name: SEG1, variant: 'from the other primary' });
    const storedBefore = await readFile(join(storeRoot, 'wal_005', `${SEG1}.lz4`));
    await rejectsWith(pushWalFile(archive, path), 'WAL_OVERWRITE_CONFLICT', /already archived .* different content.*split-brain or corruption suspected/);
    assert.deepEqual(await readFile(join(storeRoot, 'wal_005', `${SEG1}.lz4`)), storedBefore);
    const r = await runWalship(['wal-push', path], { WALG_FILE_PREFIX: storeRoot });
    assert.equal(r.code, 73);
    assert.match(r.stderr, /WAL_OVERWRITE_CONFLICT/);
  });

  test('WALG_PREVENT_WAL_OVERWRITE=false replaces the archived copy, with a loud warning', async () => {
    const name = '000000010000000000000009';
    const first = join(dir, 'overwrite-a');
    const second = join(dir, 'overwrite-b');
    await mkdir(first, { recursive: true });
    await mkdir(second, { recursive: true });
    const env = { WALG_FILE_PREFIX: storeRoot, WALG_PREVENT_WAL_OVERWRITE: 'false' };
    assert.equal((await runWalship(['wal-push', await writeSegment(first, { name })], env)).code, 0);
    const replacing = await writeSegment(second, { name, variant: 'from the other primary' });
    const r = await runWalship(['wal-push', replacing], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /"level":"warn".*already archived as wal_005\/000000010000000000000009\.lz4 with different content.*REPLACED/);
    const out = join(dir, 'overwrite-out');
    assert.equal((await runWalship(['wal-fetch', name, out], env)).code, 0);
    assert.ok((await readFile(out)).equals(await readFile(replacing)), 'the archive now holds the second copy');
    // The same push without the setting still fails and keeps what is there.
    assert.equal((await runWalship(['wal-push', join(first, name)], { WALG_FILE_PREFIX: storeRoot })).code, 73);
  });

  test('history files are never overwritten with different content', async () => {
    const path = join(pgWal, '00000002.history');
    await writeFile(path, '1\t0/3000000\tno recovery target specified\n');
    assert.equal((await pushWalFile(archive, path)).outcome, 'uploaded');
    assert.equal((await pushWalFile(archive, path)).outcome, 'already-archived');
    await writeFile(path, '1\t0/4000000\tsomething else\n');
    await rejectsWith(pushWalFile(archive, path), 'WAL_OVERWRITE_CONFLICT', /00000002\.history/);
  });

  test('bad names are refused before the store is touched', async () => {
    const beforeFiles = await listFiles(storeRoot);
    for (const name of ['', '../000000010000000000000001', 'pg_wal/x', '00000001000000000000000G', '0000000100000000000000011', 'RECOVERYXLOG', '00000000000000000000000A']) {
      const r = await runWalship(['wal-fetch', name, join(dir, 'x')], { WALG_FILE_PREFIX: storeRoot });
      assert.equal(r.code, 64, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /WAL_BAD_NAME: .* is not a WAL file name/);
    }
    const badPath = join(dir, 'not-a-wal-name');
    await writeFile(badPath, 'x');
    const r = await runWalship(['wal-push', badPath], { WALG_FILE_PREFIX: storeRoot });
    assert.equal(r.code, 64);
    assert.match(r.stderr, /"not-a-wal-name" is not a WAL file name/);
    assert.deepEqual(await listFiles(storeRoot), beforeFiles);
  });

  test('files that are not the segment their name says are refused', async () => {
    const cases: [string, Parameters<typeof makeSegment>[0], RegExp][] = [
      ['short', { name: SEG2, size: 8 * 1024 * 1024 }, /size 8388608 bytes/],
      ['magic', { name: SEG2, magic: 0x1234 }, /unknown page magic 0x1234/],
      ['misnamed', { name: SEG2, pageAddress: 5n * 16n * 1024n * 1024n }, /not where the name puts it/],
    ];
    for (const [label, spec, pattern] of cases) {
      const sub = join(dir, `bad-${label}`);
      await mkdir(sub, { recursive: true });
      const path = join(sub, SEG2);
      await writeFile(path, makeSegment(spec));
      await rejectsWith(pushWalFile(archive, path), 'WAL_NOT_A_SEGMENT', pattern);
    }
    assert.equal(await store.stat(`wal_005/${SEG2}.lz4`), undefined);
  });

  test("another cluster's WAL is refused in this cluster's prefix", async () => {
    const sub = join(dir, 'other-cluster');
    await mkdir(sub, { recursive: true });
    const path = await writeSegment(sub, { name: SEG3, systemIdentifier: 42n });
    await rejectsWith(pushWalFile(archive, path), 'WAL_FOREIGN_CLUSTER', /belongs to database system 42, but this archive .* belongs to system 7300000000000000001/);
    assert.equal(await store.stat(`wal_005/${SEG3}.lz4`), undefined);
    // A fresh process (no cached identity) refuses it too.
    const r = await runWalship(['wal-push', path], { WALG_FILE_PREFIX: storeRoot });
    assert.equal(r.code, 65);
    assert.match(r.stderr, /WAL_FOREIGN_CLUSTER/);
  });

  test('a missing file exits 74 with nothing on stderr', async () => {
    const r = await runWalship(['wal-fetch', '0000000100000000000000FF', join(dir, 'nothing')], { WALG_FILE_PREFIX: storeRoot });
    assert.equal(r.code, 74);
    assert.equal(r.stderr, '');
    await assert.rejects(stat(join(dir, 'nothing')));
  });

  test('a tampered or truncated object never reaches its destination', async () => {
    const path = await writeSegment(pgWal, { name: SEG2 });
    await pushWalFile(archive, path);
    const objectPath = join(storeRoot, 'wal_005', `${SEG2}.lz4`);
    const original = await readFile(objectPath);
    const dest = join(dir, 'tampered-dest');

    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x55;
    await writeFile(objectPath, flipped);
    await assert.rejects(fetchWalFile(archive, SEG2, dest), (e: unknown) => isWalshipError(e) && ['STORE_CORRUPT', 'CODEC_CORRUPT', 'WAL_INTEGRITY'].includes(e.code));
    await assert.rejects(stat(dest), 'no destination file after a tampered object');

    await writeFile(objectPath, original.subarray(0, original.length - 100));
    await assert.rejects(fetchWalFile(archive, SEG2, dest), (e: unknown) => isWalshipError(e) && ['STORE_CORRUPT', 'CODEC_CORRUPT', 'WAL_INTEGRITY'].includes(e.code));
    await assert.rejects(stat(dest), 'no destination file after a truncated object');
    const leftovers = (await readdir(dir)).filter((f) => f.includes('tampered-dest'));
    assert.deepEqual(leftovers, [], 'no temp files left');

    const r = await runWalship(['wal-fetch', SEG2, dest], { WALG_FILE_PREFIX: storeRoot });
    assert.notEqual(r.code, 0);
    assert.notEqual(r.code, 74);
    assert.match(r.stderr, /STORE_CORRUPT|CODEC_CORRUPT|WAL_INTEGRITY/);
    await writeFile(objectPath, original);
  });

  test('objects written by WAL-G (no metadata) and under another compression are found and verified', async () => {
    // WAL-G's shape: lz4 frame, no walship metadata, plain file.
    const seg = makeSegment({ name: SEG3 });
    await writeFile(join(storeRoot, 'wal_005', `${SEG3}.lz4`), compressFrameSync(seg));
    const zstdConfig = (await loadConfig({ env: { WALG_FILE_PREFIX: storeRoot, WALG_COMPRESSION_METHOD: 'zstd' } })).config;
    const zstdArchive = await openWalArchive(zstdConfig, store);
    const dest = join(dir, 'walg-dest');
    assert.equal((await fetchWalFile(zstdArchive, SEG3, dest)).outcome, 'fetched');
    assert.deepEqual(await readFile(dest), seg);
    const local = join(dir, 'walg-local');
    await mkdir(local, { recursive: true });
    await writeFile(join(local, SEG3), seg);
    assert.equal((await pushWalFile(zstdArchive, join(local, SEG3))).outcome, 'already-archived');
    await writeFile(join(local, SEG3), makeSegment({ name: SEG3, variant: 'x' }));
    await rejectsWith(pushWalFile(zstdArchive, join(local, SEG3)), 'WAL_OVERWRITE_CONFLICT', /different content/);
  });

  test('objects an earlier version wrote with a sha256 checksum are still checked with it', async () => {
    const SEG4 = '000000010000000000000004';
    const key = `wal_005/${SEG4}.lz4`;
    const seg = makeSegment({ name: SEG4 });
    const putLegacy = (sha256: string) =>
      store.put(key, () => archive.codec.encode(Readable.from([seg])), {
        metadata: { ...encodingMetadata(archive.codec.encoding), 'walship-sha256': sha256, 'walship-size': String(seg.length) },
      });
    await putLegacy(createHash('sha256').update(seg).digest('hex'));
    const dest = join(dir, 'legacy-dest');
    assert.equal((await fetchWalFile(archive, SEG4, dest)).outcome, 'fetched');
    assert.deepEqual(await readFile(dest), seg);
    const local = join(dir, 'legacy-local');
    await mkdir(local, { recursive: true });
    await writeFile(join(local, SEG4), seg);
    const again = await pushWalFile(archive, join(local, SEG4));
    assert.equal(again.outcome, 'already-archived');
    assert.equal(again.digest.algorithm, 'sha256');
    await writeFile(join(local, SEG4), makeSegment({ name: SEG4, variant: 'diverged' }));
    await rejectsWith(pushWalFile(archive, join(local, SEG4)), 'WAL_OVERWRITE_CONFLICT', /archived sha256 [0-9a-f]{16}…, local sha256 [0-9a-f]{16}…/);

    await putLegacy(createHash('sha256').update('something else').digest('hex'));
    const mismatched = join(dir, 'legacy-mismatch');
    await rejectsWith(fetchWalFile(archive, SEG4, mismatched), 'WAL_INTEGRITY', /sha256 [0-9a-f]{16}… differs from the archived sha256/);
    await assert.rejects(stat(mismatched), 'nothing reaches the destination');
  });

  test('encrypted archives: a tampered object or the wrong key is a clear error', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'walship test' }], format: 'armored' });
    const other = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'someone else' }], format: 'armored' });
    const encRoot = join(dir, 'enc-store');
    await mkdir(encRoot);
    const pushCfg = (await loadConfig({ env: { WALG_FILE_PREFIX: encRoot, WALG_PGP_KEY: publicKey } })).config;
    const encStore = await openStore(pushCfg.store!, testTransfer);
    const path = await writeSegment(pgWal, { name: '000000010000000000000004' });
    await pushWalFile(await openWalArchive(pushCfg, encStore), path);

    const readCfg = (await loadConfig({ env: { WALG_FILE_PREFIX: encRoot, WALG_PGP_KEY: privateKey } })).config;
    const reader = await openWalArchive(readCfg, encStore);
    const dest = join(dir, 'enc-dest');
    await fetchWalFile(reader, '000000010000000000000004', dest);
    assert.deepEqual(await readFile(dest), await readFile(path));

    const publicOnly = await openWalArchive(pushCfg, encStore);
    await rejectsWith(fetchWalFile(publicOnly, '000000010000000000000004', join(dir, 'x1')), 'CRYPTO_NEEDS_PRIVATE_KEY', /private key/);
    const wrongCfg = (await loadConfig({ env: { WALG_FILE_PREFIX: encRoot, WALG_PGP_KEY: other.privateKey } })).config;
    await rejectsWith(fetchWalFile(await openWalArchive(wrongCfg, encStore), '000000010000000000000004', join(dir, 'x2')), 'CRYPTO_KEY_MISMATCH', /key/);

    const objectPath = join(encRoot, 'wal_005', '000000010000000000000004.lz4');
    const original = await readFile(objectPath);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 30]! ^= 0x01;
    await writeFile(objectPath, flipped);
    await assert.rejects(fetchWalFile(reader, '000000010000000000000004', join(dir, 'x3')), (e: unknown) => isWalshipError(e) && ['STORE_CORRUPT', 'CRYPTO_INTEGRITY', 'CODEC_CORRUPT', 'WAL_INTEGRITY'].includes(e.code));
    await assert.rejects(stat(join(dir, 'x3')));
    void Readable;
  });
});
