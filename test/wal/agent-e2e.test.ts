import assert from 'node:assert/strict';
import { chmod, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { StoreConfig } from '../../agent/config/types.ts';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { runWalship } from '../support/cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { startS3rver, type S3Emulator } from '../support/s3rver.ts';
import { storeEnv } from '../support/store-env.ts';
import { archivedSegments, assertContiguous, switchWal, waitArchived } from '../support/wal-helpers.ts';

// The pod, on one machine: PostgreSQL 15 calls the POSIX sh client as
// archive_command and restore_command, and the client hands each request to
// `walship agent` over a shared spool directory.

interface StoreTarget {
  name: string;
  config(): Promise<StoreConfig>;
  /** Makes the store fail every request, then brings it back. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

function fsTarget(): StoreTarget {
  let root = '';
  return {
    name: 'filesystem',
    async config() {
      root = await postgresOwnedDir('walship-e2e-store-');
      return { kind: 'fs', root };
    },
    // A file where the archive directory was: every write fails, like a lost mount.
    async down() {
      await rename(root, `${root}.away`);
      await writeFile(root, 'not a directory');
    },
    async up() {
      await rm(root);
      await rename(`${root}.away`, root);
    },
    stop: () => rm(root, { recursive: true, force: true }),
  };
}

function s3Target(): StoreTarget {
  let emulator: S3Emulator;
  return {
    name: 's3rver',
    async config() {
      emulator = await startS3rver();
      return emulator.config('cluster-a');
    },
    down: () => emulator.pause(),
    up: () => emulator.resume(),
    stop: () => emulator.stop(),
  };
}

async function installClient(): Promise<{ dir: string; client: string; spool: string }> {
  const dir = await postgresOwnedDir('walship-shared-');
  await chmod(dir, 0o755);
  const r = await runWalship(['install-client', dir]);
  assert.equal(r.code, 0, r.stderr);
  await chownToPostgres(join(dir, 'spool'));
  return { dir, client: join(dir, 'walship-client'), spool: join(dir, 'spool') };
}

for (const makeTarget of [fsTarget, s3Target]) {
  const target = makeTarget();
  describe(`archiving and recovery through the sidecar agent: ${target.name}`, () => {
    const clusters: PgCluster[] = [];
    const agents: AgentProcess[] = [];
    const cleanups: (() => Promise<void>)[] = [];

    after(async () => {
      for (const a of agents) await a.stop();
      for (const c of clusters) await c.destroy();
      for (const f of cleanups) await f();
      await target.stop();
    });

    test('pgbench load archives contiguously, survives a dead store, and recovers exactly to a point in time', { timeout: 600_000 }, async (t) => {
      const store = await target.config();
      const env = storeEnv(store);
      const shared = await installClient();
      cleanups.push(() => rm(shared.dir, { recursive: true, force: true }));

      const source = await PgCluster.create({
        conf: { archive_mode: 'on', archive_command: `${shared.client} wal-push %p`, archive_timeout: 0, wal_keep_size: 0 },
      });
      clusters.push(source);
      const agent = await startAgentProcess({ ...env, PGDATA: source.dataDir, WALSHIP_SPOOL_DIR: shared.spool, WALSHIP_STORE_ATTEMPTS: '2', WALSHIP_STORE_TIMEOUT: '2s' });
      agents.push(agent);
      await source.start();

      await source.query('create table marks (id serial primary key, at timestamptz not null default clock_timestamp(), label text not null)');
      const first = await switchWal(source);
      const backup = await source.baseBackup('none');
      const backupToEnd = await source.baseBackup('none');
      for (const b of [backup, backupToEnd]) {
        await chownToPostgres(b.root);
        cleanups.push(() => rm(b.root, { recursive: true, force: true }));
      }

      await source.pgbench(['-i', '-s', '3', '-q']);
      await source.pgbench(['-c', '2', '-T', '4', '-n']);
      await source.query("insert into marks (label) values ('before target')");
      await new Promise((r) => setTimeout(r, 20));
      const [{ target: targetTime, checksum }] = (await source.query<{ target: string; checksum: string }>(
        "select to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US TZ') as target, (select sum(abalance)::text from pgbench_accounts) as checksum",
      )) as [{ target: string; checksum: string }];
      await new Promise((r) => setTimeout(r, 20));
      await source.query("insert into marks (label) values ('after target')");
      await source.query('update pgbench_accounts set abalance = abalance + 1 where aid <= 100');
      const [{ finalSum }] = (await source.query<{ finalSum: string }>('select sum(abalance)::text as "finalSum" from pgbench_accounts')) as [{ finalSum: string }];
      const beforeOutage = await switchWal(source);
      await waitArchived(source, beforeOutage);

      // The store goes away: archive_command fails, PostgreSQL keeps the WAL and retries.
      await target.down();
      await source.query("insert into marks (label) values ('during outage')");
      const duringOutage = await switchWal(source);
      await new Promise((r) => setTimeout(r, 3000));
      const [stats] = await source.query<{ failed_count: string; last_archived_wal: string }>('select failed_count::text, last_archived_wal from pg_stat_archiver');
      assert.ok(Number(stats!.failed_count) > 0, 'archive_command failed while the store was down');
      assert.ok((stats!.last_archived_wal ?? '') < duringOutage, 'nothing was reported archived while the store was down');
      await target.up();
      // A new segment wakes the archiver at once, instead of its 60 s retry timer.
      await source.query("insert into marks (label) values ('after outage')");
      const last = await switchWal(source);
      await waitArchived(source, last);

      const driver = await openStore(store, testTransfer);
      assertContiguous(await archivedSegments(driver), first, last);
      await driver.close();
      const ahead = agent.logs().filter((l) => l.msg === 'archived ahead');
      const followed = ahead.filter((l) => l.preEncoded === true).length;
      t.diagnostic(`${ahead.length} segments uploaded ahead of archive_command, ${followed} of them hashed and compressed while PostgreSQL wrote them`);
      // pgbench writes each segment over many polls: the follower must have had its part.
      assert.ok(followed > 0, 'no segment was pre-encoded by the follower');
      assert.ok(ahead.length > 0, 'the agent uploaded segments ahead of the archiver');

      // Point-in-time recovery through restore_command, with prefetch; then to the end of the archive.
      const recover = async (from: { root: string; dataDir: string }, recoveryConf: Record<string, string>) => {
        const shared = await installClient();
        cleanups.push(() => rm(shared.dir, { recursive: true, force: true }));
        const cluster = await PgCluster.adopt(from.root, from.dataDir, {
          conf: { restore_command: `${shared.client} wal-fetch %f %p`, archive_mode: 'off', ...recoveryConf },
        });
        clusters.push(cluster);
        const restoreAgent = await startAgentProcess({ ...env, PGDATA: from.dataDir, WALSHIP_SPOOL_DIR: shared.spool, WALSHIP_UPLOAD_AHEAD: 'false' });
        agents.push(restoreAgent);
        await writeFile(join(from.dataDir, 'recovery.signal'), '');
        await chownToPostgres(join(from.dataDir, 'recovery.signal'));
        await cluster.start();
        await cluster.waitPromoted();
        const labels = (await cluster.query<{ label: string }>('select label from marks order by id')).map((r) => r.label);
        const [{ sum }] = (await cluster.query<{ sum: string }>('select sum(abalance)::text as sum from pgbench_accounts')) as [{ sum: string }];
        await cluster.stop();
        const log = await cluster.log();
        assert.doesNotMatch(log, /walship.*(error|failed)|could not restore/i, 'no walship errors in the PostgreSQL log');
        return { labels, sum, agent: restoreAgent };
      };

      const pitr = await recover(backup, { recovery_target_time: targetTime, recovery_target_action: 'promote' });
      assert.deepEqual(pitr.labels, ['before target']);
      assert.equal(pitr.sum, checksum, 'pgbench balances are exactly as they were at the target');

      const toEnd = await recover(backupToEnd, {});
      assert.deepEqual(toEnd.labels, ['before target', 'after target', 'during outage', 'after outage']);
      assert.equal(toEnd.sum, finalSum);
    });
  });
}
