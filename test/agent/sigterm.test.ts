import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../agent/config/load.ts';
import { openStore } from '../../agent/storage/open.ts';
import { startS3rver, type S3Emulator } from '../support/s3rver.ts';
import { storeEnv } from '../support/store-env.ts';
import { archivedSegments, assertContiguous, switchWal, waitArchived } from '../support/wal-helpers.ts';
import { assertStoredIdentical, doneSegments, startPod, waitUntil, type Pod } from './harness.ts';
import { startHoldProxy, type HoldProxy } from './hold-proxy.ts';

// Kubernetes stops the sidecar with SIGTERM, and the store may be slow at
// that moment. The agent must exit within its grace period, and PostgreSQL
// must never have been told a segment is archived that the store lacks.

const GRACE_MS = 2_000;

describe('SIGTERM while a segment is being uploaded to a stalled store', () => {
  let emulator: S3Emulator | undefined;
  let proxy: HoldProxy | undefined;
  let pod: Pod | undefined;
  let scratch = '';
  let watching: NodeJS.Timeout | undefined;
  after(async () => {
    clearInterval(watching);
    proxy?.release();
    await pod?.destroy();
    await proxy?.close();
    await emulator?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('the agent exits within the grace period, nothing PostgreSQL counts as archived is missing, and archiving resumes contiguously', { timeout: 120_000 }, async (t) => {
    emulator = await startS3rver();
    proxy = await startHoldProxy(emulator.endpoint);
    const direct = emulator.config('sigterm');
    scratch = await mkdtemp(join(tmpdir(), 'walship-sigterm-'));
    pod = await startPod(storeEnv(emulator.config('sigterm', { endpoint: proxy.url })), {
      agentEnv: { WALSHIP_SHUTDOWN_GRACE: `${GRACE_MS}ms`, WALSHIP_STORE_ATTEMPTS: '2' },
      cluster: { conf: { checkpoint_timeout: '30min', max_wal_size: '1GB' } },
    });
    const { cluster } = pod;

    // Every segment PostgreSQL ever marks .done (its archive_command returned 0).
    const done = new Set<string>();
    const watch = async () => {
      for (const name of await doneSegments(cluster).catch(() => [])) done.add(name);
    };
    watching = setInterval(() => void watch(), 50);

    await cluster.query('create table t (id serial primary key, v text)');
    const first = await switchWal(cluster);
    await waitArchived(cluster, first);

    // The store stalls on WAL uploads; PostgreSQL asks for the next segment.
    proxy.hold((method, url) => method === 'PUT' && url.includes('/wal_005/'));
    await cluster.query("insert into t (v) select md5(g::text) from generate_series(1, 1000) g");
    const stalled = await switchWal(cluster);
    const reqDir = join(pod.shared.spool, 'req');
    await waitUntil('the upload to reach the stalled store', async () => proxy!.held > 0);
    await waitUntil("PostgreSQL's archive_command request to be claimed by the agent", async () => (await readdir(reqDir)).some((n) => n.endsWith('.work')));

    const stopping = Date.now();
    const code = await pod.agent.stop('SIGTERM');
    const tookMs = Date.now() - stopping;
    t.diagnostic(`agent exited with ${code} ${tookMs} ms after SIGTERM (grace ${GRACE_MS} ms)`);
    assert.equal(code, 0, 'a clean exit');
    assert.ok(tookMs >= GRACE_MS - 200, `it waited for the upload under way (${tookMs} ms)`);
    assert.ok(tookMs < GRACE_MS + 3_000, `it exited within the grace period (${tookMs} ms)`);
    assert.ok(
      pod.agent.logs().some((l) => String(l.msg).startsWith('grace period over')),
      'it says it left work unfinished',
    );

    // While no agent runs: PostgreSQL was not told the stalled segment is archived.
    await watch();
    const [stats] = await cluster.query<{ last: string | null }>('select last_archived_wal as last from pg_stat_archiver');
    assert.ok(stats!.last !== null && stats!.last < stalled, `pg_stat_archiver's last archived (${stats!.last}) is before the stalled ${stalled}`);
    assert.ok(!done.has(stalled), `${stalled} is not .done`);
    await assertStoredIdentical(direct, cluster, [...done, stats!.last!], scratch);

    // A new agent serves the request the old one left claimed, and archiving goes on.
    proxy.release();
    await pod.restartAgent();
    await waitArchived(cluster, stalled, 30_000);
    await cluster.query("insert into t (v) select md5(g::text) from generate_series(1, 1000) g");
    const last = await switchWal(cluster);
    await waitArchived(cluster, last, 30_000);
    await watch();

    const { config } = await loadConfig({ env: {} });
    const driver = await openStore(direct, config.transfer);
    try {
      assertContiguous(await archivedSegments(driver), first, last);
    } finally {
      await driver.close();
    }
    assert.ok(done.has(stalled) && done.has(last));
    const compared = await assertStoredIdentical(direct, cluster, done, scratch);
    t.diagnostic(`${done.size} segments PostgreSQL marked .done are in the store; ${compared} compared byte for byte with pg_wal`);
    assert.ok(compared >= 3);
  });
});
