import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';
import { startS3rver, type S3Emulator } from '../support/s3rver.ts';
import { storeEnv } from '../support/store-env.ts';

// `st put FILE KEY` stores KEY with the compression's extension added; the
// user then asks `st get KEY` with the key they gave, and gets the file back.

describe('st get finds what st put stored', () => {
  let dir: string;
  let s3: S3Emulator;
  let data: Buffer;
  let src: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-st-roundtrip-'));
    s3 = await startS3rver();
    data = Buffer.from('probe '.repeat(20_000));
    src = join(dir, 'in.bin');
    await writeFile(src, data);
    // A filesystem store's root must exist: walship never creates it on its own.
    for (const store of ['store', 'store2', 'store3']) await mkdir(join(dir, store));
  });
  after(async () => {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const stores = () => [
    { name: 'filesystem', env: { WALG_FILE_PREFIX: join(dir, 'store') } },
    { name: 's3rver', env: storeEnv(s3.config('roundtrip')) },
  ];

  test('the key as given to st put, on a filesystem store and on S3', async () => {
    for (const store of stores()) {
      const put = await runWalship(['st', 'put', src, 'probe/in.bin'], store.env);
      assert.equal(put.code, 0, `${store.name}: ${put.stderr}`);
      assert.equal(put.stdout, 'probe/in.bin.lz4\n');
      const out = join(dir, `out-${store.name}.bin`);
      const get = await runWalship(['st', 'get', 'probe/in.bin', out], store.env);
      assert.equal(get.code, 0, `${store.name}: ${get.stderr}`);
      assert.equal(get.stderr, 'st get: probe/in.bin is stored as probe/in.bin.lz4\n');
      assert.deepEqual(await readFile(out), data, store.name);
      // The stored key itself still works, and says nothing extra.
      const exact = await runWalship(['st', 'get', 'probe/in.bin.lz4', '-'], store.env);
      assert.equal(exact.code, 0, exact.stderr);
      assert.equal(exact.stderr, '');
      assert.deepEqual(Buffer.from(exact.stdout), data);
    }
  });

  test('stored under two extensions: the error names both and asks for one', async () => {
    const env = { WALG_FILE_PREFIX: join(dir, 'store2') };
    assert.equal((await runWalship(['st', 'put', src, 'two/in.bin'], env)).code, 0);
    assert.equal((await runWalship(['st', 'put', src, 'two/in.bin'], { ...env, WALG_COMPRESSION_METHOD: 'zstd' })).code, 0);
    // A longer key beside it shares the prefix but is not a spelling of it.
    assert.equal((await runWalship(['st', 'put', src, 'two/in.bin2'], env)).code, 0);
    const out = join(dir, 'two.out');
    const get = await runWalship(['st', 'get', 'two/in.bin', out], env);
    assert.equal(get.code, 64);
    assert.match(get.stderr, /USAGE: st get: two\/in\.bin is not in file:\/\/.*store2, but 2 keys with other extensions are: two\/in\.bin\.lz4, two\/in\.bin\.zst; ask for one of them/);
    await assert.rejects(readFile(out), { code: 'ENOENT' });
    const zst = await runWalship(['st', 'get', 'two/in.bin.zst', out], env);
    assert.equal(zst.code, 0, zst.stderr);
    assert.deepEqual(await readFile(out), data);
  });

  test('a key with the wrong extension, or with one the object lacks: the error names the key that exists', async () => {
    const env = { WALG_FILE_PREFIX: join(dir, 'store3') };
    assert.equal((await runWalship(['st', 'put', src, 'one/in.bin'], env)).code, 0);
    const wrong = await runWalship(['st', 'get', 'one/in.bin.zst', join(dir, 'x')], env);
    assert.equal(wrong.code, 74);
    assert.match(wrong.stderr, /STORE_NOT_FOUND: st get: one\/in\.bin\.zst is not in file:\/\/.*store3, but one\/in\.bin\.lz4 is: ask for that key/);
    assert.equal((await runWalship(['st', 'put', '--raw', src, 'raw/in.bin'], env)).code, 0);
    const added = await runWalship(['st', 'get', 'raw/in.bin.lz4', join(dir, 'x')], env);
    assert.equal(added.code, 74);
    assert.match(added.stderr, /but raw\/in\.bin is: ask for that key/);
    const none = await runWalship(['st', 'get', 'one/other.bin', join(dir, 'x')], env);
    assert.equal(none.code, 74);
    assert.match(none.stderr, /STORE_NOT_FOUND: get .*one\/other\.bin: no such object/);
    await assert.rejects(readFile(join(dir, 'x')), { code: 'ENOENT' });
  });
});
