import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import { sampleValue } from '../support/prom-parse.ts';
import { getText, scrapeMetrics, startPod, waitUntil, type Pod } from './harness.ts';

// The agent runs walship check's steps at start-up: /readyz reports them as
// its "startup" check, and walship_check_ok{step} says which step passed.

interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

async function readiness(pod: Pod): Promise<{ status: number; report: Readiness }> {
  const r = await getText(`${pod.agent.httpUrl}/readyz`);
  return { status: r.status, report: JSON.parse(r.body) as Readiness };
}

describe("the agent's start-up check", () => {
  const pods: Pod[] = [];
  const stores: BackupStore[] = [];
  after(async () => {
    for (const p of pods) await p.destroy();
    for (const s of stores) await s.stop();
  });

  test('passes beside a correctly set-up cluster: ready, and every step at 1', { timeout: 120_000 }, async () => {
    const store = await filesystemStore.start('');
    stores.push(store);
    const pod = await startPod(store.env, { agentEnv: { WALSHIP_HEALTH_INTERVAL: '300ms' } });
    pods.push(pod);
    await waitUntil('ready', async () => (await readiness(pod)).status === 200);
    const { report } = await readiness(pod);
    assert.deepEqual(report.checks.startup, { ok: true });
    const metrics = await scrapeMetrics(pod.agent);
    for (const step of ['config', 'store', 'postgres', 'archive-settings', 'wal-switch']) {
      assert.equal(sampleValue(metrics, 'walship_check_ok', { step }), 1, `walship_check_ok{step="${step}"}`);
    }
  });

  test('with archive_mode off: unready, naming the step and the cause, and walship_check_ok{step="archive-settings"} 0', { timeout: 120_000 }, async () => {
    const store = await filesystemStore.start('');
    stores.push(store);
    const pod = await startPod(store.env, { agentEnv: { WALSHIP_HEALTH_INTERVAL: '300ms' }, cluster: { conf: { archive_mode: 'off' } } });
    pods.push(pod);
    await waitUntil('the start-up check to reach PostgreSQL', async () => (await readiness(pod)).report.checks.startup?.detail?.startsWith('archive-settings') === true);
    const { status, report } = await readiness(pod);
    assert.equal(status, 503);
    assert.equal(report.ready, false);
    assert.match(report.checks.startup!.detail!, /^archive-settings: archive_mode is off/);
    assert.equal(report.checks.store!.ok, true, 'the store itself is fine');
    const metrics = await scrapeMetrics(pod.agent);
    assert.equal(sampleValue(metrics, 'walship_check_ok', { step: 'postgres' }), 1);
    assert.equal(sampleValue(metrics, 'walship_check_ok', { step: 'archive-settings' }), 0);
    assert.equal(sampleValue(metrics, 'walship_check_ok', { step: 'wal-switch' }), undefined, 'steps after the failure are absent');
    assert.ok(pod.agent.logs().some((l) => String(l.msg).startsWith('start-up check failed at archive-settings: archive_mode is off')));
  });
});
