import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runWalship } from './cli.ts';
import { Ledger, PGBENCH_TABLES, archiveAll, describeCli, fetchAndStart, fingerprint, ledgerState, listBackups, pushBackup, restoreRoot, startArchivingSource, waitFor, backupTestResources } from './backup-harness.ts';
import type { BackupStoreFactory } from './backup-stores.ts';
import { WALG_METADATA, WALG_SENTINEL, goDecodeProblems } from './walg-schema.ts';

// The round trip every store must pass: a backup taken under load, restored
// into an empty directory, recovered through `walship wal-fetch` to a known
// point and compared exactly with the source at that point.

export function runBackupRoundTrip(factory: BackupStoreFactory): void {
  describe(`backup round trip: ${factory.name}`, () => {
    const resources = backupTestResources();
    const { clusters, dirs } = resources;

    test('a backup taken under pgbench restores and recovers exactly to a target LSN', { timeout: 240_000 }, async (t) => {
      const store = (resources.store = await factory.start('roundtrip'));
      const source = await startArchivingSource(store.env);
      clusters.push(source);
      await source.pgbench(['-i', '-s', '4', '-q']);
      const ledger = (resources.ledger = await Ledger.create(source));
      ledger.start(5);

      // Writers on both sides of the backup: pgbench and the ledger. pgbench
      // runs until its sessions are terminated, once the backup is done.
      let pgbenchDone = false;
      const pgbench = source.pgbench(['-c', '2', '-T', '120', '-R', '300', '-n']).then(
        () => assert.fail('pgbench ended before it was stopped'),
        (err: Error) => err.message,
      ).finally(() => (pgbenchDone = true));
      await waitFor(async () => Number((await source.query<{ n: string }>('select count(*) as n from pgbench_history'))[0]!.n) > 100, 'pgbench to write');
      const started = Date.now();
      const name = await pushBackup(source, store.env, ['--permanent', '--add-user-data', '{"owner":"roundtrip","n":[1,2]}']);
      t.diagnostic(`backup-push took ${Date.now() - started} ms`);
      assert.equal(pgbenchDone, false, 'pgbench was still writing when the backup finished');
      await source.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgbench'");
      assert.match(await pgbench, /terminat|abort/i);

      // The known point: pgbench has ended, the ledger still writes.
      const target = await ledger.mark('lsn');
      const expectedPgbench = await fingerprint(source, PGBENCH_TABLES);
      await new Promise((r) => setTimeout(r, 200));
      await ledger.close();
      assert.ok(ledger.state().count > target.expected.count, 'rows were written after the target');
      await archiveAll(source);

      // The catalogue.
      const [serverVersion] = await source.query<{ v: string }>("select current_setting('server_version_num') as v");
      const list = await listBackups(store.env);
      assert.equal(list.length, 1);
      const b = list[0]!;
      assert.equal(b.name, name);
      assert.match(b.name, /^base_[0-9A-F]{24}$/);
      assert.equal(b.name, `base_${b.startWalFile}`);
      assert.ok(Date.parse(b.startTime) < Date.parse(b.finishTime), `${b.startTime} < ${b.finishTime}`);
      assert.ok(Date.parse(b.finishTime) <= Date.now());
      assert.equal(b.pgVersion, Number(serverVersion!.v));
      assert.ok(b.dataBytes > 50 * 1024 * 1024, `dataBytes ${b.dataBytes}`);
      assert.ok(b.storedBytes > 0 && b.storedBytes < b.dataBytes, `storedBytes ${b.storedBytes} of ${b.dataBytes}`);
      assert.equal(b.permanent, true);
      assert.deepEqual(b.userData, { owner: 'roundtrip', n: [1, 2] });
      assert.equal(b.fromStandby, false);
      const show = await runWalship(['backup-show', 'LATEST'], store.env);
      assert.equal(show.code, 0, describeCli(show));
      assert.deepEqual(JSON.parse(show.stdout), b);
      // What WAL-G reads of it: the sentinel and metadata.json decode whole into WAL-G's structs.
      for (const [key, schema] of [[`basebackups_005/${name}_backup_stop_sentinel.json`, WALG_SENTINEL], [`basebackups_005/${name}/metadata.json`, WALG_METADATA]] as const) {
        const got = await runWalship(['st', 'get', '--raw', key, '-'], store.env);
        assert.equal(got.code, 0, describeCli(got));
        assert.deepEqual(goDecodeProblems(got.stdout, schema), [], key);
      }

      const where = await restoreRoot({ createEmpty: true });
      dirs.push(where.root);
      const restoreStarted = Date.now();
      const restored = await fetchAndStart(store.env, where, 'LATEST', ['--target-lsn', target.value, '--target-action', 'promote']);
      clusters.push(restored.cluster);
      t.diagnostic(`backup-fetch, recovery and promotion took ${Date.now() - restoreStarted} ms`);
      assert.equal(restored.backup, name);
      assert.match(restored.output, /\(full: \d+ files written/, 'an empty directory gets a full restore');
      assert.deepEqual(await fingerprint(restored.cluster, PGBENCH_TABLES), expectedPgbench);
      assert.deepEqual(await ledgerState(restored.cluster), { ...target.expected, consistent: true });
      // The restored cluster is a working primary.
      await restored.cluster.query("insert into ledger (v) values (1)");
    });
  });
}
