import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';
import { postgresOwnedDir } from '../support/pg-cluster.ts';
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
  const dirs: string[] = [];
  after(async () => {
    for (const p of pods) await p.destroy();
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
});
