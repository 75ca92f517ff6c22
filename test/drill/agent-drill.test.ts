import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pgEnv, pushBackup } from '../support/backup-harness.ts';
import { chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { sampleSum } from '../support/prom-parse.ts';
import { switchWal } from '../support/wal-helpers.ts';
import { scrapeMetrics, startPod, waitUntil, type Pod } from '../agent/harness.ts';
import { flipByte } from '../support/tamper.ts';
import { serversUnder } from '../support/processes.ts';

// Restore drills on the agent's schedule: a success sets the last-success
// time, the proven RPO and the phases' durations; a tampered backup then
// sets the last-failure time and counts the failure by its code. Nothing
// is left in the scratch directory, and no server of it runs.

describe('restore drills run by the agent', () => {
  const pods: Pod[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const p of pods) await p.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('on schedule: metrics of a success, then of a failure; nothing left behind', { timeout: 300_000 }, async () => {
    const storeRoot = await postgresOwnedDir('walship-agent-drill-');
    const drillDir = await mkdtemp(join(tmpdir(), 'walship-agent-scratch-'));
    await chownToPostgres(drillDir);
    dirs.push(storeRoot, drillDir);
    const env = { WALG_FILE_PREFIX: storeRoot };
    const pod = await startPod(env, { agentEnv: { WALSHIP_DRILL_SCHEDULE: '*/10 * * * * *', WALSHIP_DRILL_DIR: drillDir } });
    pods.push(pod);

    // Every drill metric is there from the start, failures at 0 for every code.
    const metricsAtStart = await scrapeMetrics(pod.agent);
    assert.equal(sampleSum(metricsAtStart, 'walship_drill_last_success_timestamp_seconds'), 0);
    assert.equal(sampleSum(metricsAtStart, 'walship_drill_failures_total', 'walship_drill_failures_total', { code: 'DRILL_FAILED' }), 0, 'every code exported at 0');

    await pod.cluster.query('create table t as select g from generate_series(1, 5000) g');
    await pushBackup(pod.cluster, { ...env, ...pgEnv(pod.cluster) });
    await pod.cluster.query('insert into t select g from generate_series(5001, 6000) g');
    await switchWal(pod.cluster);

    const afterBackup = Date.now() / 1000;
    await waitUntil('a successful scheduled drill', async () => sampleSum(await scrapeMetrics(pod.agent), 'walship_drill_last_success_timestamp_seconds') > afterBackup, 120_000, 500);
    const ok = await scrapeMetrics(pod.agent);
    const rpo = sampleSum(ok, 'walship_drill_last_rpo_seconds');
    assert.ok(rpo > 0 && rpo < 60, `RPO of seconds: ${rpo}`);
    assert.ok(sampleSum(ok, 'walship_drill_last_duration_seconds', 'walship_drill_last_duration_seconds', { phase: 'restore' }) > 0);
    assert.ok(sampleSum(ok, 'walship_drill_last_duration_seconds', 'walship_drill_last_duration_seconds', { phase: 'recovery' }) > 0);
    assert.ok(pod.agent.logs().some((l) => l.msg === 'restore drill succeeded'), 'the agent logged the success');

    // Tamper with the backup: the next drill fails, loudly, in metrics and log.
    const backupsDir = join(storeRoot, 'basebackups_005');
    const [name] = (await readdir(backupsDir)).filter((n) => n.startsWith('base_'));
    const partsDir = join(backupsDir, name!, 'tar_partitions');
    const parts = await Promise.all((await readdir(partsDir)).filter((f) => /^part_\d+\.tar/.test(f)).map(async (f) => ({ f, size: (await stat(join(partsDir, f))).size })));
    const part = join(partsDir, parts.sort((a, b) => b.size - a.size)[0]!.f);
    await copyFile(part, `${part}.saved`);
    await flipByte(part, Math.floor(parts[0]!.size / 2));
    const afterTamper = Date.now() / 1000;
    await waitUntil('a failed scheduled drill', async () => sampleSum(await scrapeMetrics(pod.agent), 'walship_drill_last_failure_timestamp_seconds') > afterTamper, 120_000, 500);
    const failed = await scrapeMetrics(pod.agent);
    // The filesystem store's sidecar catches the flip first (STORE_CORRUPT); the decoder or the manifest would otherwise.
    const byCode = ['STORE_CORRUPT', 'BACKUP_CORRUPT', 'CODEC_CORRUPT'].map((code) => sampleSum(failed, 'walship_drill_failures_total', 'walship_drill_failures_total', { code }));
    assert.ok(byCode.reduce((a, b) => a + b, 0) >= 1, `the failure is counted by its code: ${byCode}`);
    assert.ok(pod.agent.logs().some((l) => l.level === 'error' && typeof l.msg === 'string' && l.msg.startsWith('restore drill failed: ')), 'the agent logged the failure');
    assert.ok(sampleSum(failed, 'walship_drill_last_success_timestamp_seconds') < afterTamper, 'the last success stays the earlier one');
    await rename(`${part}.saved`, part);

    // Stopped while a drill runs: the drill ends its server and deletes its directory before the agent exits.
    await waitUntil('a drill under way', async () => sampleSum(await scrapeMetrics(pod.agent), 'walship_drill_running') === 1, 60_000, 100);
    await pod.agent.stop();
    assert.deepEqual(await readdir(drillDir), [], 'the scratch directory is empty');
    assert.deepEqual(await serversUnder(drillDir), [], 'no drill server left running');
  });
});
