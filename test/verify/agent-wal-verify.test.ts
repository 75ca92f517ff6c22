import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseWalFileName } from '../../agent/wal/names.ts';
import { pushBackup } from '../support/backup-harness.ts';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import { sampleValue } from '../support/prom-parse.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';
import { scrapeMetrics, startPod, waitUntil, type Pod } from '../agent/harness.ts';

// The agent's own wal-verify, beside a primary: at start-up it puts back a
// segment lost from the store that pg_wal still holds, and reports the one
// that is gone from both, through the metrics and its log.

const SEG = 16 * 1024 * 1024;

describe("the agent's wal-verify", () => {
  let pod: Pod | undefined;
  let store: BackupStore | undefined;
  after(async () => {
    await pod?.destroy();
    await store?.stop();
  });

  test('fills from pg_wal what it can; what is gone is walship_wal_gap_unfilled_segments, the first missing LSN and integrity 0', { timeout: 180_000 }, async () => {
    store = await filesystemStore.start('');
    const root = store.config.kind === 'fs' ? store.config.root : '';
    pod = await startPod(store.env, { agentEnv: { WALG_UPLOAD_CONCURRENCY: '1' }, cluster: { conf: { wal_keep_size: '1GB' } } });
    const cluster = pod.cluster;
    await cluster.query('create table t (x int)');
    await pushBackup(cluster, pod.agentEnv);
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      await cluster.query('insert into t select generate_series(1, 1000)');
      names.push(await switchWal(cluster));
    }
    await waitArchived(cluster, names.at(-1)!);
    await waitUntil('the first wal-verify', async () => sampleValue(await scrapeMetrics(pod!.agent), 'walship_wal_integrity_ok') === 1);

    // Two segments leave the store; the second leaves pg_wal too (PostgreSQL had recycled it).
    const [kept, gone] = [names[1]!, names[3]!];
    const walDir = join(root, 'wal_005');
    for (const f of await readdir(walDir)) if (f.startsWith(`${kept}.`) || f.startsWith(`${gone}.`)) await rm(join(walDir, f));
    await rm(join(cluster.dataDir, 'pg_wal', gone));
    await pod.agent.stop();
    const agent = await pod.restartAgent();

    await waitUntil('the start-up gap check', async () => sampleValue(await scrapeMetrics(agent), 'walship_wal_gap_unfilled_segments') !== undefined, 30_000);
    const m = await scrapeMetrics(agent);
    assert.equal(sampleValue(m, 'walship_wal_gap_unfilled_segments'), 1);
    assert.equal(sampleValue(m, 'walship_wal_gap_filled_files_total'), 1);
    assert.equal(sampleValue(m, 'walship_wal_integrity_ok'), 0);
    assert.equal(sampleValue(m, 'walship_wal_timeline_ok'), 1);
    assert.equal(sampleValue(m, 'walship_wal_first_missing_lsn_bytes'), Number(parseWalFileName(gone).segNo!) * SEG);
    const stored = (await readdir(walDir)).map((f) => f.split('.')[0]);
    assert.ok(stored.includes(kept), `${kept} was put back from pg_wal`);
    assert.ok(!stored.includes(gone));
    assert.ok(
      agent.logs().some((l) => l.level === 'error' && String(l.msg).includes(`1 segment(s) missing from the archive and not in the local pg_wal (${gone})`)),
      JSON.stringify(agent.logs().filter((l) => l.level === 'error' || l.level === 'warn')),
    );
  });
});
