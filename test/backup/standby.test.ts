import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';
import { PgCluster, pgExec, postgresOwnedDir } from '../support/pg-cluster.ts';
import { Ledger, archiveAll, describeCli, fetchAndStart, ledgerState, listBackups, pgEnv, restoreRoot, startArchivingSource, waitFor, backupTestResources } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';

// A backup taken from a streaming standby. The standby does not archive
// (archive_mode = on archives only on a primary): the primary does, and
// backup-push waits until the primary's archiver has stored the segment
// the standby's backup ends in.

describe('backup from a standby', () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;

  test('backup-push against a standby, restored and recovered from the primary archive', { timeout: 180_000 }, async (t) => {
    const store = (resources.store = await filesystemStore.start(''));
    const primary = await startArchivingSource(store.env);
    clusters.push(primary);
    const ledger = (resources.ledger = await Ledger.create(primary));
    await ledger.writeMany(200);

    const root = await postgresOwnedDir('walship-standby-');
    const dataDir = join(root, 'data');
    await pgExec('pg_basebackup', ['-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-X', 'stream', '-R', '-c', 'fast', '--no-sync']);
    const standby = await PgCluster.adopt(root, dataDir, { env: store.env });
    clusters.push(standby);
    await standby.start();
    const [{ r: inRecovery }] = (await standby.query<{ r: boolean }>('select pg_is_in_recovery() as r')) as [{ r: boolean }];
    assert.equal(inRecovery, true, 'a standby');

    await ledger.writeMany(200);
    const caughtUp = async () => {
      const [p] = await primary.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
      const [s] = await standby.query<{ ok: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [p!.lsn]);
      return s!.ok;
    };
    await waitFor(caughtUp, 'the standby to catch up');

    // The primary keeps writing and switching segments, as a busy primary
    // would, until the standby's backup is complete.
    let pushing = true;
    let switches = 0;
    const push = runWalship(['backup-push'], { ...pgEnv(standby), ...store.env }).finally(() => (pushing = false));
    while (pushing) {
      await ledger.write();
      await primary.query('select pg_switch_wal()');
      switches++;
      await sleep(300);
    }
    const r = await push;
    assert.equal(r.code, 0, describeCli(r));
    t.diagnostic(`${switches} WAL switches on the primary during the standby backup`);

    await ledger.writeMany(100);
    const expected = ledger.state();
    await ledger.close();
    resources.ledger = undefined;
    await archiveAll(primary);

    const [backup] = await listBackups(store.env);
    assert.ok(backup);
    assert.equal(backup.fromStandby, true);
    assert.equal(backup.pgdata, standby.dataDir);
    const [ids] = await primary.query<{ sysid: string }>('select system_identifier::text as sysid from pg_control_system()');
    assert.equal(backup.systemIdentifier, ids!.sysid);

    const where = await restoreRoot();
    dirs.push(where.root);
    const restored = await fetchAndStart(store.env, where, backup.name);
    clusters.push(restored.cluster);
    assert.deepEqual(await ledgerState(restored.cluster), { ...expected, consistent: true });
    // Restored as a primary of its own, not a standby of the source.
    await restored.cluster.query('insert into ledger (v) values (1)');
  });
});
