import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { openStore } from '../../agent/storage/open.ts';
import { WAL_PREFIX } from '../../agent/wal/layout.ts';
import { parseSegmentHeader } from '../../agent/wal/segment-header.ts';
import { testTransfer } from '../storage/contract.ts';
import { WALSHIP_BIN, runWalship } from '../support/cli.ts';
import { multiFrameLz4 } from '../support/lz4-multi-frame.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';
import { WALG_COMPRESSIONS, putWalgObject, walgCompress, walgKey } from '../support/walg-objects.ts';

// An archive that WAL-G wrote, in every compression it has written, read
// back by walship: each file into its exact bytes, and a real PostgreSQL 15
// recovered from it to every committed row.

describe('a WAL-G archive, restored by walship', () => {
  let spool: string;
  let storeRoot: string;
  let store: StorageDriver;
  let source: PgCluster;
  let backup: { root: string; dataDir: string };
  /** Archived WAL files by name, as PostgreSQL handed them to archive_command. */
  const archived = new Map<string, Buffer>();
  const compressionOf = new Map<string, string>();
  const clusters: PgCluster[] = [];
  const env = () => ({ WALG_FILE_PREFIX: storeRoot });

  before(async () => {
    spool = await postgresOwnedDir('walship-walg-spool-');
    storeRoot = await postgresOwnedDir('walship-walg-store-');
    store = await openStore({ kind: 'fs', root: storeRoot }, testTransfer);
    source = await PgCluster.create({ conf: { archive_mode: 'on', archive_command: `cp %p ${spool}/%f`, archive_timeout: 0 } });
    clusters.push(source);
    await source.start();
    await source.query('create table t (id int primary key, note text)');
    await switchWal(source);
    backup = await source.baseBackup('none');
    await chownToPostgres(backup.root);
    // Enough rounds that every compression holds some of the WAL recovery needs.
    for (let round = 0; round < 2 * WALG_COMPRESSIONS.length; round++) {
      await source.query(`insert into t select g, 'round ${round} ' || md5(g::text) from generate_series(${round * 5000 + 1}, ${(round + 1) * 5000}) g`);
      await waitArchived(source, await switchWal(source));
    }
    await source.stop();
    const names = (await readdir(spool)).sort();
    for (const [i, name] of names.entries()) {
      const plain = await readFile(join(spool, name));
      archived.set(name, plain);
      const compression = WALG_COMPRESSIONS[i % WALG_COMPRESSIONS.length]!;
      compressionOf.set(name, compression);
      await putWalgObject(store, name, compression, plain);
    }
  });

  after(async () => {
    for (const c of clusters) await c.destroy();
    await store?.close();
    for (const dir of [spool, storeRoot, backup?.root]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the archive holds every compression WAL-G writes, under its names', async () => {
    const keys = (await readdir(join(storeRoot, WAL_PREFIX))).map((k) => k.replace(/^[0-9A-F]{24}|^[0-9A-F]{8}\.history/, ''));
    for (const suffix of ['.lz4', '.lzma', '.zst', '.br', '.']) assert.ok(keys.includes(suffix), `a ${JSON.stringify(suffix)} object`);
  });

  test('wal-fetch restores each file, in every compression, to its exact bytes', async () => {
    const dest = await mkdtemp(join(tmpdir(), 'walship-walg-fetch-'));
    try {
      for (const [name, plain] of archived) {
        const out = join(dest, name);
        const result = await runWalship(['wal-fetch', name, out], env());
        assert.equal(result.code, 0, `${name}: ${result.stderr}`);
        assert.ok((await readFile(out)).equals(plain), `${name} restored byte for byte`);
      }
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
  });

  test('PostgreSQL 15 recovers from it to every committed row', { timeout: 300_000 }, async () => {
    const restored = await PgCluster.adopt(backup.root, backup.dataDir, {
      conf: { restore_command: `'${process.execPath}' '${WALSHIP_BIN}' wal-fetch %f %p`, recovery_target_action: 'promote', archive_mode: 'off' },
      env: env(),
    });
    clusters.push(restored);
    await writeFile(join(backup.dataDir, 'recovery.signal'), '');
    await chownToPostgres(join(backup.dataDir, 'recovery.signal'));
    await restored.start();
    await restored.waitPromoted();
    const expected = WALG_COMPRESSIONS.length * 2 * 5000;
    const rows = await restored.query<{ id: number; note: string }>('select id, note from t order by id');
    assert.equal(rows.length, expected);
    rows.forEach((row, i) => {
      const round = Math.floor(i / 5000);
      assert.equal(row.id, i + 1);
      assert.equal(row.note.startsWith(`round ${round} `), true, `row ${row.id}`);
    });
    // Row for row against what the source committed (md5 computed by the restored server, compared to the text written).
    const [check] = await restored.query<{ bad: string }>("select count(*) as bad from t where note <> 'round ' || ((id - 1) / 5000) || ' ' || md5(id::text)");
    assert.equal(check!.bad, '0');
    // Replay went through objects of every compression.
    const replayed = [...(await restored.log()).matchAll(/restored log file "([^"]+)" from archive/g)].map((m) => compressionOf.get(m[1]!));
    assert.deepEqual(new Set(replayed), new Set(WALG_COMPRESSIONS));
  });
  test("walship takes over the WAL-G archive of its own cluster as it is, and refuses another cluster's WAL there", { timeout: 180_000 }, async () => {
    // A WAL-G archive never had walship/cluster.json: its segments, written
    // without walship's metadata, say which system it is.
    const copy = await postgresOwnedDir('walship-walg-adopt-');
    const spare = await postgresOwnedDir('walship-walg-spare-');
    try {
      execFileSync('cp', ['-a', `${storeRoot}/.`, copy]);
      const other = await PgCluster.create();
      clusters.push(other);
      await other.start();
      const foreignName = await switchWal(other);
      const foreign = join(spare, foreignName);
      await copyFile(join(other.dataDir, 'pg_wal', foreignName), foreign);
      await chownToPostgres(foreign);
      const refused = await runWalship(['wal-push', foreign], { WALG_FILE_PREFIX: copy });
      assert.equal(refused.code, 65, refused.stderr);
      assert.match(refused.stderr, /WAL_FOREIGN_CLUSTER: /);
      await assert.rejects(stat(join(copy, 'walship', 'cluster.json')), 'nothing recorded for the other cluster');

      const [name, plain] = [...archived].find(([n]) => /^[0-9A-F]{24}$/.test(n))!;
      await mkdir(join(spare, 'own'));
      await chownToPostgres(join(spare, 'own'));
      const own = join(spare, 'own', name);
      await writeFile(own, plain);
      await chownToPostgres(own);
      const pushed = await runWalship(['wal-push', own], { WALG_FILE_PREFIX: copy });
      assert.equal(pushed.code, 0, pushed.stderr);
      const identity = JSON.parse(await readFile(join(copy, 'walship', 'cluster.json'), 'utf8')) as { systemIdentifier: string };
      assert.equal(identity.systemIdentifier, parseSegmentHeader(plain, name).systemIdentifier.toString(), "the identity is the WAL-G archive's own system");
      // From then on the archive is walship's: the other cluster is still refused.
      const again = await runWalship(['wal-push', foreign], { WALG_FILE_PREFIX: copy });
      assert.equal(again.code, 65, again.stderr);
      assert.match(again.stderr, new RegExp(`WAL_FOREIGN_CLUSTER: .*belongs to system ${identity.systemIdentifier}`));
    } finally {
      for (const dir of [copy, spare]) await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('objects walship cannot decode stop wal-fetch with 126, naming the object', () => {
  let storeRoot: string;
  let store: StorageDriver;
  let dest: string;
  const name = '000000010000000000000042';

  before(async () => {
    storeRoot = await mkdtemp(join(tmpdir(), 'walship-walg-bad-'));
    dest = await mkdtemp(join(tmpdir(), 'walship-walg-bad-out-'));
    store = await openStore({ kind: 'fs', root: storeRoot }, testTransfer);
  });
  after(async () => {
    await store.close();
    await rm(storeRoot, { recursive: true, force: true });
    await rm(dest, { recursive: true, force: true });
  });

  const fetch = (file: string) => runWalship(['wal-fetch', file, join(dest, file)], { WALG_FILE_PREFIX: storeRoot });

  test('an unknown extension is not "not in the archive"', async () => {
    await store.put(`${WAL_PREFIX}${name}.lzo`, () => Readable.from([Buffer.from('lzop data')]));
    const result = await fetch(name);
    assert.equal(result.code, 126, result.stderr);
    assert.match(result.stderr, new RegExp(`wal_005/${name}\\.lzo`));
    assert.match(result.stderr, /cannot decode/);
    await assert.rejects(readFile(join(dest, name)), 'nothing is written');
  });

  test('a damaged lzma object', async () => {
    const other = '000000010000000000000043';
    const good = await walgCompress('lzma', Buffer.alloc(1 << 20, 7));
    good[good.length >> 1]! ^= 0x5a;
    await store.put(walgKey(other, 'lzma'), () => Readable.from([good]));
    const result = await fetch(other);
    assert.equal(result.code, 126, result.stderr);
    assert.match(result.stderr, new RegExp(other));
    assert.match(result.stderr, /LZMA/);
  });

  test('an lzma object while the installation lacks its native binding: an installation fault, not corrupt data', async () => {
    // A store of its own: a later segment in the shared one would make the true miss below a hole.
    const other = '000000010000000000000045';
    const ownRoot = await mkdtemp(join(tmpdir(), 'walship-walg-nobinding-'));
    const own = await openStore({ kind: 'fs', root: ownRoot }, testTransfer);
    const encoded = await walgCompress('lzma', Buffer.alloc(1 << 16, 3));
    await own.put(walgKey(other, 'lzma'), () => Readable.from([encoded]));
    await own.close();
    // What npm leaves behind when an older Node runs it (bin/complete-install.js):
    // the package's loader throws when it finds no binding.
    const hook = `import { registerHooks } from 'node:module';
      registerHooks({ resolve(specifier, context, next) {
        if (specifier === '@napi-rs/lzma') throw new Error('Cannot find native binding.');
        return next(specifier, context);
      } });`;
    const result = await runWalship(['wal-fetch', other, join(dest, other)], {
      WALG_FILE_PREFIX: ownRoot,
      NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(hook)}`,
    });
    assert.equal(result.code, 126, result.stderr);
    assert.match(result.stderr, /CODEC_UNAVAILABLE: cannot read lzma objects: @napi-rs\/lzma has no native binding/);
    assert.match(result.stderr, /npm install/);
    assert.doesNotMatch(result.stderr, /corrupt/);
    await assert.rejects(readFile(join(dest, other)), 'nothing is written');
    await rm(ownRoot, { recursive: true, force: true });
  });

  test('other files that start with the name are not taken for it: a true miss still exits 74', async () => {
    const other = '000000010000000000000044';
    await store.put(`${WAL_PREFIX}${other}.00000028.backup.lz4`, () => Readable.from([Buffer.from('x')]));
    await store.put(`${WAL_PREFIX}${other}.partial.lz4`, () => Readable.from([Buffer.from('x')]));
    const result = await fetch(other);
    assert.equal(result.code, 74, result.stderr);
  });
});

describe("walship's earlier multi-frame lz4 objects still restore", () => {
  test('wal-fetch of an old-format object', async () => {
    const storeRoot = await mkdtemp(join(tmpdir(), 'walship-old-lz4-'));
    const store = await openStore({ kind: 'fs', root: storeRoot }, testTransfer);
    try {
      const name = '00000002.history';
      const plain = Buffer.from(Array.from({ length: 700_000 }, (_, i) => `1\t0/${(i * 16).toString(16).toUpperCase()}\tno recovery target specified\n`).join('').slice(0, 700_000));
      const old = await multiFrameLz4(plain);
      await store.put(`${WAL_PREFIX}${name}.lz4`, () => Readable.from([old]));
      const out = join(storeRoot, 'out');
      const result = await runWalship(['wal-fetch', name, out], { WALG_FILE_PREFIX: storeRoot });
      assert.equal(result.code, 0, result.stderr);
      assert.ok((await readFile(out)).equals(plain));
    } finally {
      await store.close();
      await rm(storeRoot, { recursive: true, force: true });
    }
  });
});
