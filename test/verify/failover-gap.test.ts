import assert from 'node:assert/strict';
import { readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { runWalship } from '../support/cli.ts';
import { Ledger, archiveAll, describeCli, fetchAndStart, fingerprint, ledgerState, pgEnv, pushBackup, restoreRoot, startArchivingSource, waitFor } from '../support/backup-harness.ts';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import { PgCluster, chownToPostgres, pgExec, postgresOwnedDir } from '../support/pg-cluster.ts';
import { sampleValue } from '../support/prom-parse.ts';
import { installClient, scrapeMetrics, type Shared } from '../agent/harness.ts';
import { parseWalFileName, segmentName } from '../../agent/wal/names.ts';

// The WAL gap after a failover, on real PostgreSQL 15: the primary's
// segments stop reaching the store, the primary dies, and its streaming
// standby (archive_mode = on, so it archived none of what it streamed) is
// promoted with the agent beside it. The agent uploads the missing
// segments from the standby's pg_wal, and a point-in-time recovery from
// the backup taken before the gap crosses it to the new primary's last commit.

const SEG = 16 * 1024 * 1024;

async function storedWal(root: string): Promise<string[]> {
  return (await readdir(join(root, 'wal_005')).catch(() => [] as string[])).map((f) => f.split('.')[0]!);
}

describe('the WAL gap after a failover', () => {
  const clusters: PgCluster[] = [];
  const dirs: string[] = [];
  let store: BackupStore | undefined;
  let agent: AgentProcess | undefined;
  let shared: Shared | undefined;
  let ledger: Ledger | undefined;
  after(async () => {
    await ledger?.close().catch(() => undefined);
    await agent?.stop();
    for (const c of clusters.reverse()) await c.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    if (shared) await rm(shared.dir, { recursive: true, force: true });
    await store?.stop();
  });

  test('the promoted standby\'s agent fills the gap from its pg_wal, and a PITR crosses it', { timeout: 300_000 }, async (t) => {
    store = await filesystemStore.start('');
    const root = store.config.kind === 'fs' ? store.config.root : '';
    // The primary reaches the store through a link of its own, so that the
    // store can go away for it alone.
    const link = `${root}.primary`;
    await symlink(root, link);
    await chownToPostgres(root);
    dirs.push(link);
    const primary = await startArchivingSource({ ...store.env, WALG_FILE_PREFIX: link });
    clusters.push(primary);
    ledger = await Ledger.create(primary);
    await ledger.writeMany(100);
    const backup = await pushBackup(primary, store.env);
    await ledger.writeMany(100);
    await archiveAll(primary);

    // A streaming standby that archives through the agent once it is a primary.
    shared = await installClient();
    const standbyRoot = await postgresOwnedDir('walship-failover-standby-');
    const standbyData = join(standbyRoot, 'data');
    await pgExec('pg_basebackup', ['-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres', '-D', standbyData, '-X', 'stream', '-R', '-c', 'fast', '--no-sync']);
    // wal_keep_size: what it streamed stays in pg_wal past the promotion's checkpoint (docs/checks.md).
    const standby = await PgCluster.adopt(standbyRoot, standbyData, { conf: { archive_mode: 'on', archive_command: `${shared.client} wal-push %p`, wal_keep_size: '1GB' } });
    clusters.push(standby);
    await standby.start();

    // The store becomes unreachable for the primary (a file where its link
    // was: every wal-push fails), and it archives nothing more.
    await rm(link);
    await writeFile(link, 'not a directory');
    const [{ last }] = (await primary.query<{ last: string }>('select last_archived_wal as last from pg_stat_archiver')) as [{ last: string }];
    for (let i = 0; i < 4; i++) {
      await ledger.writeMany(50);
      await primary.query('select pg_switch_wal()');
    }
    await ledger.writeMany(50);
    const committed = ledger.state();
    const [{ lsn }] = (await primary.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')) as [{ lsn: string }];
    await waitFor(async () => (await standby.query<{ ok: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [lsn]))[0]!.ok, 'the standby to replay everything the primary wrote');
    const [{ failed }] = (await primary.query<{ failed: string }>('select failed_count::text as failed from pg_stat_archiver')) as [{ failed: string }];
    assert.ok(Number(failed) > 0, 'the primary tried to archive and failed');
    await ledger.close();
    ledger = undefined;
    await primary.stop('immediate');

    // The gap: the segments after the last one archived, which the standby holds.
    const lastNo = parseWalFileName(last, SEG).segNo!;
    const gap = [1n, 2n, 3n, 4n].map((i) => segmentName(1, lastNo + i, SEG));
    const before = await storedWal(root);
    for (const name of gap) assert.ok(!before.includes(name), `${name} is not in the archive before the failover`);
    const standbyWal = await readdir(join(standbyData, 'pg_wal'));
    for (const name of gap) assert.ok(standbyWal.includes(name), `the standby streamed ${name}`);

    agent = await startAgentProcess({
      ...store.env,
      ...pgEnv(standby),
      WALSHIP_SPOOL_DIR: shared.spool,
      WALSHIP_BACKUP_SCHEDULE: 'off',
    });
    await standby.query('select pg_promote()');
    await standby.waitPromoted();

    await waitFor(async () => {
      const m = await scrapeMetrics(agent!);
      return sampleValue(m, 'walship_wal_gap_unfilled_segments') === 0 && (sampleValue(m, 'walship_wal_gap_filled_files_total') ?? 0) >= gap.length;
    }, 'the agent to fill the gap', 60_000);
    const after = await storedWal(root);
    for (const name of gap) assert.ok(after.includes(name), `${name} was uploaded from the standby's pg_wal`);
    const filledLog = agent.logs().find((l) => /WAL file\(s\) missing from the archive from the local pg_wal/.test(String(l.msg)));
    assert.ok(filledLog, 'the agent says what it uploaded');
    t.diagnostic(`${String(filledLog.msg)}: ${JSON.stringify(filledLog.files)}`);
    assert.equal(sampleValue(await scrapeMetrics(agent), 'walship_wal_integrity_ok'), 1);

    // Everything committed before the failover is on the new primary; it writes on.
    assert.deepEqual(await ledgerState(standby), { ...committed, consistent: true });
    for (let i = 0; i < 50; i++) {
      await standby.query("with i as (insert into ledger (v) values ($1) returning id), u as (update ledger_check set n = n + 1, total = total + $1 where one = 1) select id from i", [String(1000 + i)]);
    }
    await archiveAll(standby);
    const expected = { state: await ledgerState(standby), rows: await fingerprint(standby, ['ledger']) };
    assert.equal(expected.state.count, committed.count + 50);

    const verify = await runWalship(['wal-verify', 'integrity', 'timeline', '--json'], { ...store.env, ...pgEnv(standby) });
    assert.equal(verify.code, 0, describeCli(verify));
    const report = JSON.parse(verify.stdout) as { integrity: { status: string; details: { timeline_id: number; status: string }[] }; timeline: { status: string; details: Record<string, number> } };
    assert.equal(report.integrity.status, 'OK', verify.stdout);
    assert.deepEqual(report.integrity.details.map((d) => [d.timeline_id, d.status]), [[1, 'FOUND'], [2, 'FOUND']]);
    assert.deepEqual(report.timeline, { status: 'OK', details: { current_timeline_id: 2, highest_storage_timeline_id: 2 } });

    // A point-in-time recovery from the backup before the gap, across it and the timeline switch, to the end.
    await agent.stop();
    agent = undefined;
    const where = await restoreRoot();
    dirs.push(where.root);
    const restored = await fetchAndStart(store.env, where, backup);
    clusters.push(restored.cluster);
    assert.deepEqual({ state: await ledgerState(restored.cluster), rows: await fingerprint(restored.cluster, ['ledger']) }, expected);
  });
});
