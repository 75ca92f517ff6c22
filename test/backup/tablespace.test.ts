import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';
import { chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { archiveAll, describeCli, fetchAndStart, fingerprint, pushBackup, restoreRoot, startArchivingSource, backupTestResources } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';

// A cluster with a tablespace outside its data directory, restored with the
// tablespace moved to a new location.

describe('backup with a tablespace', () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;

  test('restores the tablespace into a new location with --tablespace-mapping', { timeout: 120_000 }, async () => {
    const store = (resources.store = await filesystemStore.start(''));
    const source = await startArchivingSource(store.env);
    clusters.push(source);
    const original = await postgresOwnedDir('walship-tblspc-');
    dirs.push(original);
    await source.query(`create tablespace outside location '${original}'`);
    await source.query("create table far (id int primary key, note text) tablespace outside; insert into far select g, md5(g::text) from generate_series(1, 30000) g");
    await source.query('create index far_note on far (note) tablespace outside');
    const [{ oid }] = (await source.query<{ oid: string }>("select oid::text from pg_tablespace where spcname = 'outside'")) as [{ oid: string }];

    const name = await pushBackup(source, store.env);
    const show = await runWalship(['backup-show', name, '--files'], store.env);
    assert.equal(show.code, 0, describeCli(show));
    const manifest = JSON.parse(show.stdout) as { tablespaces: { oid: string; location: string }[]; files: { path: string }[] };
    assert.deepEqual(manifest.tablespaces, [{ oid, location: original }]);
    assert.ok(manifest.files.some((f) => f.path.startsWith(`pg_tblspc/${oid}/PG_15_`)), 'the tablespace files are in the backup');

    // Changes after the backup reach the restore through WAL, into the moved tablespace.
    await source.query("update far set note = 'changed' where id % 10 = 0; insert into far select g, 'late' from generate_series(30001, 31000) g");
    const expected = await fingerprint(source, ['far']);
    await archiveAll(source);

    const movedRoot = await postgresOwnedDir('walship-tblspc-moved-');
    dirs.push(movedRoot);
    const moved = join(movedRoot, 'new', 'place');
    const { root } = await restoreRoot();
    dirs.push(root);
    // Into a data directory whose parent does not exist yet either.
    const where = { root, dataDir: join(root, 'new', 'data') };
    // The source stops, so that its tablespace directory is still; the restore must not touch it.
    await source.stop();
    const originalBefore = await readdir(original, { recursive: true });
    const restored = await fetchAndStart(store.env, where, name, ['--tablespace-mapping', `${oid}=${moved}`]);
    clusters.push(restored.cluster);

    assert.equal(await readlink(join(where.dataDir, 'pg_tblspc', oid)), moved);
    const [{ location }] = (await restored.cluster.query<{ location: string }>('select pg_tablespace_location($1::oid) as location', [oid])) as [{ location: string }];
    assert.equal(location, moved);
    assert.ok((await readdir(moved)).some((d) => d.startsWith('PG_15_')), 'the tablespace was restored into the new location');
    assert.deepEqual(await fingerprint(restored.cluster, ['far']), expected);
    const [{ n }] = (await restored.cluster.query<{ n: string }>("select count(*)::text as n from far where note = 'late'")) as [{ n: string }];
    assert.equal(n, '1000');
    const [{ changed }] = (await restored.cluster.query<{ changed: string }>("select count(*)::text as changed from far where note = 'changed'")) as [{ changed: string }];
    assert.equal(changed, '3000');
    // The source's own tablespace directory was left alone by the restore.
    assert.deepEqual((await readdir(original, { recursive: true })).sort(), originalBefore.sort());

    // A delta restore over it makes the tablespace's version directory hold
    // exactly the backup again, and leaves what else shares the location.
    await restored.cluster.stop();
    const version = (await readdir(moved)).find((d) => d.startsWith('PG_15_'))!;
    const [database] = (await readdir(join(moved, version))).filter((d) => /^\d+$/.test(d));
    const strayFile = join(moved, version, database!, '999999');
    const strayDir = join(moved, version, 'left-behind');
    const otherVersion = join(moved, 'PG_14_202107181');
    await writeFile(strayFile, Buffer.alloc(8192, 1));
    await mkdir(strayDir);
    await writeFile(join(strayDir, 'file'), 'x');
    await mkdir(otherVersion);
    await writeFile(join(otherVersion, 'kept'), 'another major version');
    for (const path of [strayFile, strayDir, join(strayDir, 'file'), otherVersion, join(otherVersion, 'kept')]) await chownToPostgres(path);
    const again = await fetchAndStart(store.env, where, name, ['--tablespace-mapping', `${oid}=${moved}`, '--delta']);
    clusters.push(again.cluster);
    assert.match(again.output, /\(delta: .*; [1-9]\d* removed\)/);
    await assert.rejects(stat(strayFile), { code: 'ENOENT' }, 'a file the backup does not hold is removed from the tablespace');
    await assert.rejects(stat(strayDir), { code: 'ENOENT' }, 'and so is a directory');
    assert.equal(await readFile(join(otherVersion, 'kept'), 'utf8'), 'another major version', "another version's directory is left alone");
    assert.deepEqual(await fingerprint(again.cluster, ['far']), expected);
  });
});
