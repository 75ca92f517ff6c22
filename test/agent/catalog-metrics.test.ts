import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { catalogue } from '../../agent/errors.ts';
import type { AgentProcess } from '../support/agent-process.ts';
import { runWalship } from '../support/cli.ts';
import { postgresOwnedDir } from '../support/pg-cluster.ts';
import { parsePrometheusText, sampleSum, type MetricFamily } from '../support/prom-parse.ts';
import { promtoolPath } from '../support/promtool.ts';
import { switchWal } from '../support/wal-helpers.ts';
import { getText, startPod, waitUntil, type Pod } from './harness.ts';

// What the alerts read, from a real agent: the backup catalogue metrics
// come from the store whoever took the backups and whatever the schedule
// (off, or a cluster paused in an archive recovery), the failure counters
// exist at 0 for every code before any failure, and promtool finds nothing
// to say about /metrics.

interface Listed {
  name: string;
  startTime: string;
  finishTime: string;
}

async function scrape(agent: AgentProcess): Promise<{ body: string; families: Map<string, MetricFamily> }> {
  const { status, body } = await getText(`${agent.httpUrl}/metrics`);
  assert.equal(status, 200);
  return { body, families: parsePrometheusText(body) };
}

/** `promtool check metrics` on a scrape: its exit code and whatever it reports. */
function promtoolCheckMetrics(body: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtoolPath(), ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(body);
  });
}

const single = (f: Map<string, MetricFamily>, name: string): number | undefined => {
  const samples = f.get(name)?.samples ?? [];
  assert.ok(samples.length <= 1, `${name} has one series at most`);
  return samples[0]?.value;
};

function assertFailureCountersAtZero(f: Map<string, MetricFamily>): void {
  for (const family of ['walship_backup_failures_total', 'walship_wal_archive_failures_total']) {
    const codes = new Map((f.get(family)?.samples ?? []).map((s) => [s.labels.code, s.value]));
    for (const code of Object.keys(catalogue)) assert.equal(codes.get(code), 0, `${family}{code="${code}"} is exported at 0 before any failure`);
    assert.equal(codes.size, Object.keys(catalogue).length, `${family}: one series per code of the catalogue`);
  }
}

describe('backup catalogue metrics and failure counters of a running agent', () => {
  let pod: Pod | undefined;
  let store = '';
  after(async () => {
    await pod?.destroy();
    if (store) await rm(store, { recursive: true, force: true });
  });

  test('come from the store with WALSHIP_BACKUP_SCHEDULE=off and while recovery.signal is present; promtool check metrics reports nothing', { timeout: 180_000 }, async () => {
    store = await postgresOwnedDir('walship-catalog-metrics-');
    const storeEnv = { WALG_FILE_PREFIX: store };
    // The harness runs agents with WALSHIP_BACKUP_SCHEDULE=off: this agent takes no backup of its own.
    pod = await startPod(storeEnv, { agentEnv: { WALSHIP_BACKUP_CATALOG_INTERVAL: '1s' } });
    const { cluster, agentEnv } = pod;
    await cluster.query('create table t as select g from generate_series(1, 10000) g');
    await switchWal(cluster);

    // Before any backup and any failure.
    const empty = await scrape(pod.agent);
    assert.equal(single(empty.families, 'walship_backups'), 0);
    assert.equal(single(empty.families, 'walship_backup_last_success_timestamp_seconds'), undefined, 'no last-success series while the store holds no backup');
    assert.equal(single(empty.families, 'walship_recovery_first_point_timestamp_seconds'), 0);
    assertFailureCountersAtZero(empty.families);
    for (const name of ['walship_nodejs_active_handles_total', 'walship_nodejs_active_requests_total', 'walship_nodejs_active_resources_total']) {
      assert.equal(empty.families.has(name), false, `${name}: a gauge named like a counter is not exported`);
    }
    assert.ok(empty.families.has('walship_nodejs_active_handles'), 'the per-type gauges stay');
    const lintEmpty = await promtoolCheckMetrics(empty.body);
    assert.deepEqual(lintEmpty, { code: 0, output: '' }, 'promtool check metrics reports no problem');

    // A backup taken by hand, not by the agent.
    const pushed = await runWalship(['backup-push'], { ...storeEnv, PGDATA: agentEnv.PGDATA!, PGHOST: agentEnv.PGHOST!, PGPORT: agentEnv.PGPORT!, PGUSER: 'postgres' });
    assert.equal(pushed.code, 0, pushed.stderr);
    const listed = await runWalship(['backup-list', '--json'], storeEnv);
    assert.equal(listed.code, 0, listed.stderr);
    const [backup] = JSON.parse(listed.stdout) as Listed[];
    assert.ok(backup);
    const finished = Date.parse(backup.finishTime) / 1000;

    // The running agent sees it at its next catalogue read.
    await waitUntil('the periodic catalogue read to count the hand-run backup', async () => single((await scrape(pod!.agent)).families, 'walship_backups') === 1, 20_000, 250);
    const seen = (await scrape(pod.agent)).families;
    assert.equal(sampleSum(seen, 'walship_backup_last_success_timestamp_seconds', 'walship_backup_last_success_timestamp_seconds', { type: 'full' }), finished);
    assert.equal(single(seen, 'walship_recovery_first_point_timestamp_seconds'), finished);

    // A new agent (default interval, schedule still off) has them from its start-up read.
    await pod.agent.stop();
    const restarted = await pod.restartAgent();
    await waitUntil('the start-up catalogue read', async () => single((await scrape(restarted)).families, 'walship_backups') === 1, 20_000, 100);
    const fresh = await scrape(restarted);
    assert.ok(single(fresh.families, 'walship_backups')! >= 1);
    assert.equal(single(fresh.families, 'walship_backup_last_success_timestamp_seconds'), finished, "the newest complete backup's finish time, read from the store");
    assert.equal(single(fresh.families, 'walship_recovery_first_point_timestamp_seconds'), finished);
    assertFailureCountersAtZero(fresh.families);
    const lintFresh = await promtoolCheckMetrics(fresh.body);
    assert.deepEqual(lintFresh, { code: 0, output: '' }, 'promtool check metrics reports no problem');

    // A daily schedule while recovery.signal is present (a paused in-place
    // PITR): no backup is taken, and the catalogue is read all the same.
    await restarted.stop();
    const signal = join(cluster.dataDir, 'recovery.signal');
    await writeFile(signal, '');
    try {
      agentEnv.WALSHIP_BACKUP_SCHEDULE = '0 1 * * *';
      const recovering = await pod.restartAgent();
      await waitUntil('the agent to wait for the recovery', async () => recovering.logs().some((l) => l.msg === 'waiting for the archive recovery (recovery.signal) to end before backing up'), 30_000, 100);
      await waitUntil('the start-up catalogue read', async () => single((await scrape(recovering)).families, 'walship_backups') === 1, 20_000, 100);
      const during = (await scrape(recovering)).families;
      assert.equal(single(during, 'walship_backup_last_success_timestamp_seconds'), finished);
      assert.equal(single(during, 'walship_recovery_first_point_timestamp_seconds'), finished);
      assert.ok(!recovering.logs().some((l) => l.msg === 'backup starting'), 'no backup while recovery.signal is present');
    } finally {
      await rm(signal, { force: true });
    }
  });
});
