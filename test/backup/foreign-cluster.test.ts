import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { readSentinel, writeSentinel } from '../../agent/backup/catalog.ts';
import { BACKUP_PREFIX, partKey, sentinelKey } from '../../agent/backup/layout.ts';
import type { BackupSentinel } from '../../agent/backup/manifest.ts';
import { listAll } from '../../agent/storage/list.ts';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';
import { archiveAll, backupTestResources, describeCli, fetchAndStart, listBackups, pgEnv, pushBackup, restoreRoot, startArchivingSource } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';
import { runWalship } from '../support/cli.ts';
import { PgCluster } from '../support/pg-cluster.ts';
import { makeSegment } from '../support/wal-segments.ts';
import { parseWalFileName, segmentName } from '../../agent/wal/names.ts';
import { compressFrameSync } from 'lz4-napi';

// Issue 11, part 5: a second cluster pointed at the same prefix by mistake
// must not put a backup in this archive, and a backup of another database
// system found there is never LATEST and never deleted by a retention rule.

describe("another cluster's backup in this archive", () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;

  test('backup-push of a second cluster is refused before anything is uploaded; a foreign sentinel is listed apart, kept by retention, never LATEST', { timeout: 300_000 }, async () => {
    const store = (resources.store = await filesystemStore.start('foreign'));
    const source = await startArchivingSource(store.env);
    clusters.push(source);
    await source.query('create table t (id serial primary key, phase text not null)');
    const write = async (phase: string) => {
      await source.query('insert into t (phase) select $1 from generate_series(1, 500)', [phase]);
      await archiveAll(source);
    };
    await write('phase 1');
    const b1 = await pushBackup(source, store.env);
    await write('phase 2');
    const b2 = await pushBackup(source, store.env);
    await write('phase 3');

    const driver = await openStore(store.config, testTransfer);
    const backupKeys = async () => {
      const out: string[] = [];
      for await (const o of listAll(driver, BACKUP_PREFIX)) out.push(o.key);
      return out.sort();
    };
    try {
      // A second initdb, pointed at the same prefix.
      const other = await PgCluster.create();
      clusters.push(other);
      await other.start();
      const before = await backupKeys();
      const refused = await runWalship(['backup-push'], { ...pgEnv(other), ...store.env });
      assert.equal(refused.code, 65, describeCli(refused));
      assert.match(refused.stderr, /WAL_FOREIGN_CLUSTER: the cluster backed up from .* belongs to database system \d+, but this archive .* belongs to system \d+/);
      assert.deepEqual(await backupKeys(), before, 'nothing was uploaded');
      await other.stop();

      // A foreign backup that got there anyway (an older walship, or by hand): the newest by time.
      const real = (await readSentinel(driver, b2))!;
      const foreignName = 'base_0000000100000000000000F0';
      const foreign: BackupSentinel = {
        ...real,
        name: foreignName,
        systemIdentifier: '42',
        hostname: 'other-host',
        startTime: new Date(Date.now() + 60_000).toISOString(),
        finishTime: new Date(Date.now() + 120_000).toISOString(),
        manifestKey: `${BACKUP_PREFIX}${foreignName}/manifest.json.lz4`,
      };
      const foreignPart = partKey(foreignName, 1, '.lz4');
      await driver.put(foreignPart, () => Readable.from([Buffer.from('part')]));
      await writeSentinel(driver, foreign);

      const list = await runWalship(['backup-list'], store.env);
      assert.equal(list.code, 0, describeCli(list));
      const [own, apart] = list.stdout.split(/\n\nforeign backups \(other database systems than this archive's \d+; never LATEST, never deleted by retention\):\n/);
      assert.ok(apart !== undefined, `a foreign section: ${list.stdout}`);
      assert.match(own!, new RegExp(`${b1}[^]*${b2}`));
      assert.doesNotMatch(own!, new RegExp(foreignName));
      assert.match(apart, new RegExp(foreignName));
      assert.match(list.stderr, new RegExp(`^warning: backup ${foreignName} \\(host other-host, .*\\) belongs to database system 42, not to this archive's \\d+`, 'm'));
      assert.deepEqual((await listBackups(store.env)).map((b) => b.name), [b1, b2], '--json lists only the archive\'s own');
      const foreignJson = await runWalship(['backup-list', '--json', '--foreign'], store.env);
      assert.equal(foreignJson.code, 0, describeCli(foreignJson));
      assert.deepEqual((JSON.parse(foreignJson.stdout) as BackupSentinel[]).map((b) => b.name), [foreignName]);

      const latest = await runWalship(['backup-show', 'LATEST'], store.env);
      assert.equal(latest.code, 0, describeCli(latest));
      assert.equal((JSON.parse(latest.stdout) as BackupSentinel).name, b2);
      const byName = await runWalship(['backup-show', foreignName], store.env);
      assert.equal(byName.code, 65, describeCli(byName));
      assert.match(byName.stderr, /BACKUP_FOREIGN_CLUSTER: backup base_0000000100000000000000F0 .* belongs to database system 42/);

      // retain 1 counts only this archive's backups: b1 goes, b2 and the foreign one stay.
      const dry = await runWalship(['delete', 'retain', '1'], store.env);
      assert.equal(dry.code, 0, describeCli(dry));
      assert.match(dry.stdout, new RegExp(`^note: backup ${foreignName} belongs to database system 42, not to this archive's \\d+: it is kept and not counted`, 'm'));
      const deleted = await runWalship(['delete', 'retain', '1', '--confirm'], store.env);
      assert.equal(deleted.code, 0, describeCli(deleted));
      assert.match(deleted.stdout, new RegExp(`^deleted 1 backup:\\n  ${b1}  `, 'm'));
      assert.deepEqual((await listBackups(store.env)).map((b) => b.name), [b2]);
      const left = await backupKeys();
      assert.ok(left.includes(sentinelKey(foreignName)) && left.includes(foreignPart), 'the foreign backup is kept whole');
      assert.ok(!left.some((k) => k.includes(b1)), `${b1} is gone`);
    } finally {
      await driver.close();
    }

    // LATEST restores this cluster's newest backup, to the end of the archive, row for row.
    const committed = await source.query<{ id: number; phase: string }>('select id, phase from t order by id');
    assert.equal(committed.length, 1500);
    const where = await restoreRoot();
    dirs.push(where.root);
    const restored = await fetchAndStart(store.env, where, 'LATEST');
    clusters.push(restored.cluster);
    assert.equal(restored.backup, b2);
    assert.deepEqual(await restored.cluster.query<{ id: number; phase: string }>('select id, phase from t order by id'), committed);
  });

  test("a backup whose end segment in the archive is another cluster's is refused and never listed", { timeout: 180_000 }, async () => {
    const fresh = await filesystemStore.start('foreign-wal');
    const cleanup = fresh.stop;
    try {
      const source = await startArchivingSource(fresh.env);
      clusters.push(source);
      await source.query('create table t (id int primary key)');
      await archiveAll(source);
      // Another cluster's WAL, written without walship's metadata (as WAL-G
      // writes), under the names this cluster is about to use: its own
      // wal-push of them then fails as a conflict, and the backup's wait
      // finds the foreign segment.
      const [{ current }] = (await source.query<{ current: string }>('select pg_walfile_name(pg_current_wal_lsn()) as current')) as [{ current: string }];
      const driver = await openStore(fresh.config, testTransfer);
      try {
        const start = parseWalFileName(current).segNo!;
        for (let n = 0n; n < 4n; n++) {
          const name = segmentName(1, start + n);
          await driver.put(`wal_005/${name}.lz4`, () => Readable.from([compressFrameSync(makeSegment({ name, systemIdentifier: 42n }))]));
        }
      } finally {
        await driver.close();
      }
      const r = await runWalship(['backup-push'], { ...pgEnv(source), ...fresh.env, WALSHIP_BACKUP_WAL_TIMEOUT: '20s' });
      assert.equal(r.code, 65, describeCli(r));
      assert.match(r.stderr, /WAL_FOREIGN_CLUSTER: wal_005\/[0-9A-F]{24}\.lz4 in .*, the WAL segment this backup ends in, belongs to database system 42, not to this cluster/);
      assert.deepEqual(await listBackups(fresh.env), [], 'no backup is listed');
    } finally {
      await cleanup();
    }
  });
});
