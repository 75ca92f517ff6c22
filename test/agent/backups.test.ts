import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';
import { PgCluster, postgresOwnedDir, postgresOwnedSubdir } from '../support/pg-cluster.ts';
import { switchWal } from '../support/wal-helpers.ts';
import { scrapeMetrics, startPod, waitUntil, type Pod } from './harness.ts';
import { sampleSum } from '../support/prom-parse.ts';

// The agent's own backups: a first one at once when the archive has none,
// then on its cron schedule, retention after each, and a hand-run
// backup-push kept out by the lock while one runs.

interface Listed {
  name: string;
  startTime: string;
}

describe('backups taken by the agent', () => {
  const pods: Pod[] = [];
  const clones: PgCluster[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const p of pods) await p.destroy();
    for (const c of clones) await c.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('first backup at once, then on schedule, retention keeping the newest', { timeout: 180_000 }, async () => {
    const storeRoot = await postgresOwnedDir('walship-agent-backups-');
    dirs.push(storeRoot);
    const env = { WALG_FILE_PREFIX: storeRoot };
    const pod = await startPod(env, {
      // Every 20 s: long enough that the first backup is done before the next is due.
      agentEnv: { WALSHIP_BACKUP_SCHEDULE: '*/20 * * * * *', WALSHIP_RETENTION_FULL: '2' },
    });
    pods.push(pod);
    await pod.cluster.query('create table t as select g from generate_series(1, 10000) g');
    await switchWal(pod.cluster);

    const list = async (): Promise<Listed[]> => {
      const r = await runWalship(['backup-list', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Listed[];
    };
    await waitUntil('the first backup', async () => (await list()).length >= 1, 60_000, 500);
    const first = (await list())[0]!;
    assert.ok(pod.agent.logs().some((l) => l.msg === 'backup starting' && l.reason === 'the archive has no backup yet'), 'the first backup was started because none existed');

    // Scheduled backups follow; with WALSHIP_RETENTION_FULL=2 the oldest goes once a third exists.
    await waitUntil('three scheduled backups after the first', async () => pod.agent.logs().filter((l) => l.msg === 'backup complete').length >= 3, 120_000, 500);
    await waitUntil('retention to run after the last backup', async () => (await list()).length === 2, 20_000, 500);
    const kept = await list();
    assert.equal(kept.length, 2);
    assert.ok(!kept.some((b) => b.name === first.name), 'the oldest backup was deleted by retention');
    assert.ok(Date.parse(kept[0]!.startTime) < Date.parse(kept[1]!.startTime));

    const metrics = await scrapeMetrics(pod.agent);
    assert.equal(sampleSum(metrics, 'walship_backups'), 2);
    assert.ok(sampleSum(metrics, 'walship_backup_last_success_timestamp_seconds') > Date.now() / 1000 - 120);
    assert.equal(sampleSum(metrics, 'walship_backup_failures_total'), 0);
  });

  test('no backup while the cluster is in an archive recovery (a clone, a restore to a point in time): the first one follows the promotion', { timeout: 180_000 }, async () => {
    const storeRoot = await postgresOwnedDir('walship-agent-recovering-');
    dirs.push(storeRoot);
    for (const prefix of ['original', 'clone']) await postgresOwnedSubdir(storeRoot, prefix);
    const pod = await startPod({ WALG_FILE_PREFIX: join(storeRoot, 'original') });
    pods.push(pod);
    await pod.cluster.query('create table t as select g from generate_series(1, 1000) g');
    // A clone: a base backup restored with recovery.signal, whose recovery pauses at its target.
    const backup = await pod.cluster.baseBackup('stream');
    dirs.push(backup.root);
    await pod.agent.stop();
    await pod.cluster.stop();
    const clone = await PgCluster.adopt(backup.root, backup.dataDir, {
      conf: { restore_command: 'false', recovery_target: 'immediate', recovery_target_action: 'pause' },
    });
    clones.push(clone);
    await writeFile(join(clone.dataDir, 'recovery.signal'), '');
    // Its agent archives into a new prefix, with no backup yet: it would take one at once.
    Object.assign(pod.agentEnv, {
      PGDATA: clone.dataDir,
      PGHOST: clone.socketDir,
      PGPORT: String(clone.port),
      WALG_FILE_PREFIX: join(storeRoot, 'clone'),
      WALSHIP_BACKUP_SCHEDULE: '0 1 * * *',
    });
    const agent = await pod.restartAgent();
    await clone.start();
    await waitUntil('the agent to wait for the recovery', async () => agent.logs().some((l) => l.msg === 'waiting for the archive recovery (recovery.signal) to end before backing up'), 30_000, 200);
    const [{ recovering }] = (await clone.query<{ recovering: boolean }>('select pg_is_in_recovery() as recovering')) as [{ recovering: boolean }];
    assert.equal(recovering, true, 'paused at the target, still recovering');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.ok(!agent.logs().some((l) => l.msg === 'backup starting'), 'no backup while recovering');

    await clone.query('select pg_wal_replay_resume()');
    await waitUntil('the first backup after the promotion', async () => agent.logs().some((l) => l.msg === 'backup complete'), 90_000, 500);
    assert.ok(agent.logs().some((l) => l.msg === 'backup starting' && l.reason === 'the archive has no backup yet'));
    const [{ rows }] = (await clone.query<{ rows: string }>('select count(*)::text as rows from t')) as [{ rows: string }];
    assert.equal(rows, '1000', 'recovered, then promoted');
    const r = await runWalship(['backup-list', '--json'], { WALG_FILE_PREFIX: join(storeRoot, 'clone') });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Listed[]).length, 1);
  });
});
