import assert from 'node:assert/strict';
import { chmod, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { describeCli, walshipCommand } from '../support/backup-harness.ts';
import { runWalship } from '../support/cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { sampleSum } from '../support/prom-parse.ts';
import { scrapeMetrics } from '../agent/harness.ts';
import { archivedSegments, assertContiguous, switchWal, waitArchived } from '../support/wal-helpers.ts';

// Issue 11, part 1: the filesystem store's directory is moved away while
// PostgreSQL archives (what an unmounted volume looks like). walship must
// not make a fresh root and answer 0, or PostgreSQL recycles segments the
// real archive never gets: a restore then ends at the hole.

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function installClient(): Promise<{ dir: string; client: string; spool: string }> {
  const dir = await postgresOwnedDir('walship-root-shared-');
  await chmod(dir, 0o755);
  const r = await runWalship(['install-client', dir]);
  assert.equal(r.code, 0, r.stderr);
  await chownToPostgres(join(dir, 'spool'));
  return { dir, client: join(dir, 'walship-client'), spool: join(dir, 'spool') };
}

for (const mode of ['standalone wal-push', 'the agent'] as const) {
  describe(`a filesystem store root moved away mid-run, archiving through ${mode}`, () => {
    const clusters: PgCluster[] = [];
    const agents: AgentProcess[] = [];
    const dirs: string[] = [];

    after(async () => {
      for (const a of agents) await a.stop();
      for (const c of clusters) await c.destroy();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    test('wal-push fails with STORE_NO_BUCKET, no new root or cluster.json appears, and once the root is back a restore to the end has every row', { timeout: 300_000 }, async () => {
      const root = await postgresOwnedDir('walship-root-store-');
      const away = `${root}.away`;
      dirs.push(root, away);
      const env = { WALG_FILE_PREFIX: root };

      let archiveCommand = walshipCommand('wal-push %p');
      let agent: AgentProcess | undefined;
      const source = await PgCluster.create({ conf: { archive_mode: 'on', archive_command: archiveCommand, archive_timeout: 0 }, env });
      clusters.push(source);
      if (mode === 'the agent') {
        const shared = await installClient();
        dirs.push(shared.dir);
        archiveCommand = `${shared.client} wal-push %p`;
        await source.setConf({ archive_command: archiveCommand });
        agent = await startAgentProcess({ ...env, PGDATA: source.dataDir, WALSHIP_SPOOL_DIR: shared.spool, WALSHIP_HEALTH_INTERVAL: '200ms' });
        agents.push(agent);
      }
      await source.start();

      await source.query('create table t (id int primary key, note text not null)');
      const first = await switchWal(source);
      const backup = await source.baseBackup('none');
      dirs.push(backup.root);
      await chownToPostgres(backup.root);
      await source.query("insert into t select g, 'before' from generate_series(1, 100) g");
      await waitArchived(source, await switchWal(source));

      // The store goes away: three more segments' worth of commits while it is gone.
      await rename(root, away);
      for (let batch = 0; batch < 3; batch++) {
        await source.query(`insert into t select g, 'while away' from generate_series(${101 + batch * 50}, ${150 + batch * 50}) g`);
        await switchWal(source);
      }
      const deadline = Date.now() + 30_000;
      let failed = 0;
      while (Date.now() < deadline) {
        failed = Number((await source.query<{ n: string }>('select failed_count::text as n from pg_stat_archiver'))[0]!.n);
        if (failed >= 2) break;
        await sleep(200);
      }
      assert.ok(failed >= 2, `archive_command kept failing while the root was away (failed_count ${failed})`);
      const log = await source.log();
      assert.match(log, /STORE_NO_BUCKET: .*the store's root directory .* does not exist/, 'the cause reaches the PostgreSQL log');
      assert.match(log, /archive command failed with exit code 69/);
      assert.equal(await exists(root), false, 'no new root was made');
      assert.equal(await exists(join(away, 'walship', 'cluster.json')), true, 'the real archive keeps its identity');
      if (agent) {
        const failures = sampleSum(await scrapeMetrics(agent), 'walship_wal_archive_failures_total', 'walship_wal_archive_failures_total', { code: 'STORE_NO_BUCKET' });
        assert.ok(failures > 0, 'the agent counts the failures under their code');
        assert.ok(agent.logs().some((l) => l.level === 'error' && l.code === 'STORE_NO_BUCKET'), 'and logs them at error');
      }
      // The standalone CLI on its own says the same, with the exit status PostgreSQL retries.
      const pending = (await source.query<{ w: string }>('select last_failed_wal as w from pg_stat_archiver'))[0]!.w;
      const direct = await runWalship(['wal-push', join(source.dataDir, 'pg_wal', pending)], env);
      assert.equal(direct.code, 69, describeCli(direct));
      assert.match(direct.stderr, /STORE_NO_BUCKET/);
      assert.equal(await exists(root), false, 'still no new root');

      // Back: archiving resumes where it stopped.
      await rename(away, root);
      await source.query("insert into t select g, 'after' from generate_series(251, 300) g");
      const last = await switchWal(source);
      await waitArchived(source, last);
      const store = await openStore({ kind: 'fs', root }, testTransfer);
      assertContiguous(await archivedSegments(store), first, last);
      await store.close();
      const committed = (await source.query<{ id: number; note: string }>('select id, note from t order by id')).map((r) => `${r.id}:${r.note}`);
      assert.equal(committed.length, 300);

      // A restore to the end of the archive has every committed row.
      const restored = await PgCluster.adopt(backup.root, backup.dataDir, {
        conf: { restore_command: walshipCommand('wal-fetch %f %p'), archive_mode: 'off' },
        env,
      });
      clusters.push(restored);
      await writeFile(join(backup.dataDir, 'recovery.signal'), '');
      await chownToPostgres(join(backup.dataDir, 'recovery.signal'));
      await restored.start();
      await restored.waitPromoted();
      const rows = (await restored.query<{ id: number; note: string }>('select id, note from t order by id')).map((r) => `${r.id}:${r.note}`);
      assert.deepEqual(rows, committed);
    });
  });
}
