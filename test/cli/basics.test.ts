import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';

describe('walship command line', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-cli-'));
    // A filesystem store's root must exist: walship never creates it but through `st init`.
    for (const store of ['store', 'store2', 'store3']) await mkdir(join(dir, store));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('--help lists the commands and --version prints the version', async () => {
    const help = await runWalship(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Commands:[\s\S]*\bst\b/);
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const version = await runWalship(['--version']);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), pkg.version);
  });

  test('an unknown command is a usage error', async () => {
    const r = await runWalship(['frobnicate']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  test('st check write on a filesystem store prints a clear success', async () => {
    const r = await runWalship(['st', 'check', 'write'], { WALG_FILE_PREFIX: join(dir, 'store') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^OK: write access to file:\/\/.*store \(wrote, read back and deleted walship-check\/.*\) in \d+ ms$/m);
  });

  test('st put, ls, get round-trip a file, compressed as configured', async () => {
    const env = { WALG_FILE_PREFIX: join(dir, 'store2'), WALG_COMPRESSION_METHOD: 'zstd' };
    const src = join(dir, 'input.bin');
    const data = Buffer.from('walship '.repeat(10_000));
    await writeFile(src, data);
    const put = await runWalship(['st', 'put', src, 'files/input'], env);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout.trim(), 'files/input.zst');
    const ls = await runWalship(['st', 'ls', 'files/', '--json'], env);
    const listed = ls.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; size: number });
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.key, 'files/input.zst');
    assert.ok(listed[0]!.size < data.length / 10, 'stored compressed');
    const dest = join(dir, 'output.bin');
    const get = await runWalship(['st', 'get', 'files/input.zst', dest], env);
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(await readFile(dest), data);
    const again = await runWalship(['st', 'put', '--no-overwrite', src, 'files/input'], env);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);
    const rm = await runWalship(['st', 'rm', 'files/input.zst'], env);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await runWalship(['st', 'ls', '-r'], env)).stdout.trim(), '');
  });

  test('st get of a missing object exits 74 and names the key', async () => {
    const r = await runWalship(['st', 'get', 'no/such/key', join(dir, 'x')], { WALG_FILE_PREFIX: join(dir, 'store3') });
    assert.equal(r.code, 74);
    assert.match(r.stderr, /STORE_NOT_FOUND: get .*no\/such\/key: no such object/);
  });

  test('bad configuration fails before touching anything, naming the variable', async () => {
    const noStore = await runWalship(['st', 'ls']);
    assert.equal(noStore.code, 78);
    assert.match(noStore.stderr, /CONFIG_MISSING: no store configured: set one of WALG_FILE_PREFIX/);
    const bad = await runWalship(['st', 'ls'], { WALG_FILE_PREFIX: '/tmp/x', WALG_DOWNLOAD_CONCURRENCY: 'lots' });
    assert.equal(bad.code, 78);
    assert.match(bad.stderr, /WALG_DOWNLOAD_CONCURRENCY \(from environment\)/);
    const two = await runWalship(['st', 'ls', '--s3-prefix', 's3://bkt/x'], { WALG_FILE_PREFIX: '/tmp/x' });
    assert.equal(two.code, 78);
    assert.match(two.stderr, /two stores configured: WALG_FILE_PREFIX \(from environment\) and WALG_S3_PREFIX \(from command line\)/);
  });

  test('secrets are refused as flags', async () => {
    const r = await runWalship(['--set', 'AWS_SECRET_ACCESS_KEY=abc', 'st', 'ls']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /secrets are not taken on the command line/);
    assert.doesNotMatch(r.stderr, /abc/);
  });
});
