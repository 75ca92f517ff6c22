import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { postgresOwnedDir } from '../support/pg-cluster.ts';
import { sampleSum } from '../support/prom-parse.ts';
import { startS3rver, type S3Emulator } from '../support/s3rver.ts';
import { storeEnv } from '../support/store-env.ts';
import { getText, scrapeMetrics, waitUntil } from './harness.ts';

// Kubernetes' probes: /readyz follows the store (checked in the background
// every WALSHIP_HEALTH_INTERVAL), /healthz only says the process answers.

interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

describe('/readyz and /healthz while the store goes down and comes back', () => {
  let emulator: S3Emulator | undefined;
  let agent: AgentProcess | undefined;
  let spool = '';
  after(async () => {
    await agent?.stop();
    await emulator?.stop();
    if (spool) await rm(spool, { recursive: true, force: true });
  });

  test('unready (503, naming the store) during an outage, ready again after; /healthz 200 throughout', { timeout: 60_000 }, async () => {
    emulator = await startS3rver();
    spool = await postgresOwnedDir('walship-readyz-spool-');
    agent = await startAgentProcess({
      ...storeEnv(emulator.config('readyz')),
      WALSHIP_SPOOL_DIR: spool,
      WALSHIP_HEALTH_INTERVAL: '200ms',
      WALSHIP_STORE_ATTEMPTS: '1',
      WALSHIP_STORE_TIMEOUT: '2s',
    });
    const url = agent.httpUrl;
    const healthz: number[] = [];
    const probe = async (): Promise<{ status: number; report: Readiness }> => {
      healthz.push((await getText(`${url}/healthz`)).status);
      const r = await getText(`${url}/readyz`);
      assert.match(r.type, /^application\/json/);
      return { status: r.status, report: JSON.parse(r.body) as Readiness };
    };

    await waitUntil('ready', async () => (await probe()).status === 200);
    const ready = await probe();
    assert.equal(ready.report.checks.store!.ok, true);
    assert.equal(ready.report.ready, true);
    assert.equal(sampleSum(await scrapeMetrics(agent), 'walship_store_up'), 1);

    await emulator.pause();
    const downAt = Date.now();
    await waitUntil('unready', async () => (await probe()).status === 503, 15_000);
    const unready = await probe();
    assert.equal(unready.status, 503);
    assert.equal(unready.report.ready, false);
    assert.equal(unready.report.checks.store!.ok, false, 'the store check is the one failing');
    assert.ok(unready.report.checks.store!.detail, 'with the reason');
    assert.equal(unready.report.checks.archiving!.ok, true, 'and only the store');
    assert.equal(sampleSum(await scrapeMetrics(agent), 'walship_store_up'), 0);
    const noticedMs = Date.now() - downAt;

    await emulator.resume();
    await waitUntil('ready again', async () => (await probe()).status === 200, 15_000);
    assert.equal((await probe()).report.checks.store!.ok, true);
    assert.equal(sampleSum(await scrapeMetrics(agent), 'walship_store_up'), 1);

    assert.ok(healthz.length > 5);
    assert.deepEqual([...new Set(healthz)], [200], '/healthz answered 200 at every probe');
    assert.ok(noticedMs < 5_000, `the outage showed in /readyz within ${noticedMs} ms`);
  });
});
