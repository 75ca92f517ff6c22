import assert from 'node:assert/strict';
import { mkdir, readFile, readlink, readdir, stat, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';
import { runWalship } from '../support/cli.ts';
import { PgCluster, postgresOwnedDir } from '../support/pg-cluster.ts';
import { backupTestResources, describeCli, fetchAndStart, restoreRoot, walshipCommand } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';
import { pushWalgWal, takeWalgBackup } from '../support/walg-real-backup.ts';

// A WAL-G full backup of a real cluster, with a tablespace, taken as WAL-G
// takes one (test/support/walg-real-backup.ts) and its WAL archived as WAL-G
// archives it: walship's backup-fetch restores it and PostgreSQL recovers
// through walship's wal-fetch, to the end of the WAL and to a time between
// two commits, row for row.

const rows = (c: PgCluster, table: string) => c.query<{ id: number; note: string }>(`select id, note from ${table} order by id`);

describe('backup-fetch of a WAL-G full backup', () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;
  let backupName = '';

  test('restores it, tablespace moved, and recovers to the end of WAL and to a time between two commits', { timeout: 240_000 }, async () => {
    const store = (resources.store = await filesystemStore.start(''));
    const driver = await openStore(store.config, testTransfer);
    const archiveDir = await postgresOwnedDir('walship-walg-archive-');
    const tblspc = await postgresOwnedDir('walship-walg-tblspc-');
    dirs.push(archiveDir, tblspc);
    const source = await PgCluster.create({ conf: { archive_mode: 'on', archive_command: `cp %p '${archiveDir}/%f'`, archive_timeout: 0 } });
    clusters.push(source);
    await source.start();
    await source.query(`create tablespace outside location '${tblspc}'`);
    await source.query("create table near (id int primary key, note text); insert into near select g, md5(g::text) from generate_series(1, 20000) g");
    await source.query("create table far (id int primary key, note text) tablespace outside; insert into far select g, md5(g::text) from generate_series(1, 20000) g");
    const [{ oid }] = (await source.query<{ oid: string }>("select oid::text from pg_tablespace where spcname = 'outside'")) as [{ oid: string }];

    const backup = await takeWalgBackup(source, driver, {
      partitions: 3,
      // Written while the files are copied: only the backup's WAL makes them consistent.
      during: async () => {
        await source.query("update near set note = 'during' where id % 7 = 0; insert into far select g, 'during' from generate_series(20001, 21000) g");
      },
    });
    assert.ok(backup.files.some((f) => f.startsWith(`/pg_tblspc/${oid}/PG_15_`)), 'the tablespace is in the partitions');
    backupName = backup.name;

    // Two commits after the backup, a target time between them.
    await source.query("insert into near select g, 'first' from generate_series(20001, 20500) g");
    const atTarget = { near: await rows(source, 'near'), far: await rows(source, 'far') };
    await sleep(1100);
    const [{ target }] = (await source.query<{ target: string }>("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as target")) as [{ target: string }];
    await sleep(1100);
    await source.query("update far set note = 'second' where id % 3 = 0; delete from near where id % 11 = 0");
    const atEnd = { near: await rows(source, 'near'), far: await rows(source, 'far') };
    await waitArchived(source, await switchWal(source));
    const wal = await pushWalgWal(archiveDir, driver);
    assert.ok(wal.length >= 2, `WAL-G-style WAL stored: ${wal.join(', ')}`);
    await driver.close();

    const listed = await runWalship(['backup-list', '--json'], store.env);
    assert.equal(listed.code, 0, describeCli(listed));
    assert.deepEqual((JSON.parse(listed.stdout) as { backup_name: string; tool: string }[]).map((b) => [b.backup_name, b.tool]), [[backup.name, 'wal-g']]);

    // To the end of the WAL, the tablespace in a new place.
    const moved = await postgresOwnedDir('walship-walg-tblspc-moved-');
    dirs.push(moved);
    const endRoot = await restoreRoot();
    dirs.push(endRoot.root);
    const end = await fetchAndStart(store.env, endRoot, backup.name, ['--tablespace-mapping', `${oid}=${moved}`]);
    clusters.push(end.cluster);
    assert.match(end.output, new RegExp(`^${backup.name} restored into `, 'm'));
    assert.equal(await readlink(join(endRoot.dataDir, 'pg_tblspc', oid)), moved);
    assert.ok((await readdir(moved)).some((d) => d.startsWith('PG_15_')), 'the tablespace files are in the new location');
    assert.deepEqual(await rows(end.cluster, 'near'), atEnd.near);
    assert.deepEqual(await rows(end.cluster, 'far'), atEnd.far);
    const [{ location }] = (await end.cluster.query<{ location: string }>(`select pg_tablespace_location(${oid}) as location`)) as [{ location: string }];
    assert.equal(location, moved);
    await end.cluster.stop();

    // To the time between the two commits.
    const moved2 = await postgresOwnedDir('walship-walg-tblspc-pitr-');
    dirs.push(moved2);
    const pitrRoot = await restoreRoot();
    dirs.push(pitrRoot.root);
    const pitr = await fetchAndStart(store.env, pitrRoot, backup.name, ['--tablespace-mapping', `${oid}=${moved2}`, '--target-time', target]);
    clusters.push(pitr.cluster);
    assert.match(await readFile(join(pitrRoot.dataDir, 'postgresql.auto.conf'), 'utf8'), /recovery_target_time/);
    assert.deepEqual(await rows(pitr.cluster, 'near'), atTarget.near);
    assert.deepEqual(await rows(pitr.cluster, 'far'), atTarget.far);
    assert.equal((await stat(join(pitrRoot.dataDir, 'global', 'pg_control'))).size, 8192);
  });

  /** backup-fetch of the WAL-G backup into a new directory; the result and the directory. */
  const fetchInto = async (prepare?: (dataDir: string) => Promise<void>) => {
    const where = await restoreRoot();
    dirs.push(where.root);
    await prepare?.(where.dataDir);
    // The source still uses the tablespace's own location: a restore goes elsewhere.
    const moved = await postgresOwnedDir('walship-walg-tblspc-fault-');
    dirs.push(moved);
    const mapping = ['--tablespace-mapping', `${await tablespaceOid()}=${moved}`];
    const r = await runWalship(['backup-fetch', where.dataDir, backupName, '--restore-command', walshipCommand('wal-fetch %f %p'), ...mapping], resources.store!.env);
    return { r, dataDir: where.dataDir };
  };

  /** Replaces a stored object through the store (so that the store's own checks pass: what is tested is the restore's), restoring it after `body`. */
  const replaced = async (key: string, change: (bytes: Buffer) => Buffer, body: () => Promise<void>) => {
    const driver = await openStore(resources.store!.config, testTransfer);
    const put = (bytes: Buffer) => driver.put(key, () => Readable.from([bytes]), { contentLength: bytes.length });
    const original = Buffer.concat(await (await driver.get(key)).body.toArray());
    try {
      await put(change(Buffer.from(original)));
      await body();
    } finally {
      await put(original);
      await driver.close();
    }
  };
  const backupKey = (rest: string) => `basebackups_005/${backupName}/${rest}`;

  test('a flipped byte in a partition fails the restore naming the partition, and leaves no pg_control', { timeout: 60_000 }, async () => {
    const flip = (b: Buffer) => {
      // Mid-object: lz4's block decoding, its content checksum or the tar structure catches it.
      b[Math.floor(b.length / 2)]! ^= 0xff;
      return b;
    };
    await replaced(backupKey('tar_partitions/part_002.tar.lz4'), flip, async () => {
      const { r, dataDir } = await fetchInto();
      assert.equal(r.code, 65, describeCli(r));
      assert.match(r.stderr, /(CODEC_CORRUPT|BACKUP_CORRUPT): .*tar_partitions\/part_002\.tar\.lz4/);
      await assert.rejects(stat(join(dataDir, 'global', 'pg_control')), { code: 'ENOENT' });
    });
  });

  test('a partition that lacks a file files_metadata.json puts there fails, naming both', { timeout: 60_000 }, async () => {
    const addFile = (b: Buffer) => {
      const parsed = JSON.parse(b.toString('utf8')) as { TarFileSets: Record<string, string[]> };
      parsed.TarFileSets['part_001.tar.lz4']!.push('/base/1/999999');
      return Buffer.from(JSON.stringify(parsed));
    };
    await replaced(backupKey('files_metadata.json'), addFile, async () => {
      const { r, dataDir } = await fetchInto();
      assert.equal(r.code, 65, describeCli(r));
      assert.match(r.stderr, /BACKUP_CORRUPT: .*part_001\.tar\.lz4 lacks 1 file\(s\) .* base\/1\/999999/);
      await assert.rejects(stat(join(dataDir, 'global', 'pg_control')), { code: 'ENOENT' });
    });
  });

  test('into a directory that is not empty it refuses: WAL-G has no checksums for a delta restore', { timeout: 60_000 }, async () => {
    const { r, dataDir } = await fetchInto(async (dir) => {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'PG_VERSION'), '15\n');
    });
    assert.equal(r.code, 73, describeCli(r));
    assert.match(r.stderr, new RegExp(`RESTORE_REFUSED: backup ${backupName} was taken by WAL-G, which records no checksums .* restored into an empty directory only`));
    assert.deepEqual(await readdir(dataDir), ['PG_VERSION']);
  });

  /** The tablespace's oid, from the WAL-G sentinel's Spec. */
  const tablespaceOid = async () => {
    const text = await readFile(join((resources.store!.config as { root: string }).root, 'basebackups_005', `${backupName}_backup_stop_sentinel.json`), 'utf8');
    return (JSON.parse(text) as { Spec: { tablespaces: string[] } }).Spec.tablespaces[0]!;
  };
});
