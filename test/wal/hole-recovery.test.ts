import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../agent/config/load.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { listAll } from '../../agent/storage/list.ts';
import { openStore } from '../../agent/storage/open.ts';
import { WAL_PREFIX } from '../../agent/wal/layout.ts';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { walshipCommand, waitFor } from '../support/backup-harness.ts';
import { runWalship } from '../support/cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';

// Recovery to the end, with no target, over an archive that lost a segment
// from its middle: PostgreSQL takes "not found" for the end and would
// promote at the hole, without the later commits. walship answers 126, and
// recovery stops with FATAL, whether restore_command is `walship wal-fetch`
// or the client of the agent; WALSHIP_FETCH_HOLE=end gives the old answer.
// A normal end of the archive, and a timeline switch, still promote with
// every committed row.

const run = promisify(execFile);
type Row = { id: number; batch: number };

describe('recovery over a hole in the archive stops instead of promoting early', () => {
  let storeRoot: string;
  let storeEnv: Record<string, string>;
  let source: PgCluster;
  let backup: { root: string; dataDir: string };
  /** The three segments the three batches of 50 rows were committed in. */
  const batchSegments: string[] = [];
  let committed: Row[];
  const clusters: PgCluster[] = [];
  const agents: AgentProcess[] = [];
  const dirs: string[] = [];

  before(async () => {
    storeRoot = await postgresOwnedDir('walship-hole-store-');
    dirs.push(storeRoot);
    storeEnv = { WALG_FILE_PREFIX: storeRoot };
    source = await PgCluster.create({ conf: { archive_mode: 'on', archive_command: walshipCommand('wal-push %p'), archive_timeout: 0 }, env: storeEnv });
    clusters.push(source);
    await source.start();
    await source.query('create table t (id int primary key, batch int not null)');
    backup = await source.baseBackup('none');
    dirs.push(backup.root);
    for (let batch = 1; batch <= 3; batch++) {
      await source.query(`insert into t select g, ${batch} from generate_series(${(batch - 1) * 50 + 1}, ${batch * 50}) g`);
      batchSegments.push(await switchWal(source));
    }
    await waitArchived(source, batchSegments[2]!);
    committed = await rows(source);
    assert.equal(committed.length, 150);
    await source.stop();
  });

  after(async () => {
    for (const a of agents) await a.stop();
    for (const c of clusters.reverse()) await c.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function rows(cluster: PgCluster): Promise<Row[]> {
    return cluster.query<Row>('select id, batch from t order by id');
  }

  /** A copy of the base backup set to recover from the archive with restore_command, to the end. */
  async function restored(restoreCommand: string, env: Record<string, string>, conf: Record<string, string> = {}): Promise<PgCluster> {
    const root = await postgresOwnedDir('walship-hole-restore-');
    dirs.push(root);
    await run('cp', ['-a', backup.dataDir, join(root, 'data')]);
    const cluster = await PgCluster.adopt(root, join(root, 'data'), { conf: { restore_command: restoreCommand, archive_mode: 'off', ...conf }, env });
    clusters.push(cluster);
    await writeFile(join(cluster.dataDir, 'recovery.signal'), '');
    await chownToPostgres(join(cluster.dataDir, 'recovery.signal'));
    return cluster;
  }

  async function promoted(cluster: PgCluster): Promise<void> {
    await cluster.start();
    await cluster.waitPromoted();
  }

  /** Starts the cluster and waits for recovery to stop: FATAL on the missing segment, never open for queries. */
  async function assertStoppedAtHole(cluster: PgCluster): Promise<string> {
    await cluster.startNoWait();
    await waitFor(async () => /(shutting down|aborting startup) due to startup process failure/.test(await cluster.log()), 'recovery to stop', 90_000);
    const log = await cluster.log();
    const [, missing, next] = batchSegments;
    assert.match(log, new RegExp(`WAL_ARCHIVE_HOLE: ${missing} is not in the archive, but ${next} of the same timeline is: a hole in the archive, not its end`));
    // PostgreSQL words exit status 126 as "command not executable".
    assert.match(log, new RegExp(`FATAL: +could not restore file "${missing}" from archive: command not executable`));
    assert.doesNotMatch(log, /database system is ready to accept connections|archive recovery complete|selected new timeline/);
    await assert.rejects(cluster.query('select 1'), 'the cluster is not up');
    return log;
  }

  test('a normal end of the archive promotes with every committed row; the clone then archives a new timeline', { timeout: 180_000 }, async () => {
    const clone = await restored(walshipCommand('wal-fetch %f %p'), storeEnv, { archive_mode: 'on', archive_command: walshipCommand('wal-push %p') });
    await promoted(clone);
    assert.deepEqual(await rows(clone), committed);
    const [{ tli }] = (await clone.query<{ tli: number }>('select timeline_id as tli from pg_control_checkpoint()')) as [{ tli: number }];
    assert.equal(tli, 2);
    await clone.query('insert into t select g, 4 from generate_series(151, 200) g');
    const last = await switchWal(clone);
    await waitArchived(clone, last);
    committed = await rows(clone);
    assert.equal(committed.length, 200);
    await clone.stop();
  });

  test("a timeline switch: recovery follows the promoted clone's history file to its timeline's end", { timeout: 180_000 }, async () => {
    const cluster = await restored(walshipCommand('wal-fetch %f %p'), storeEnv);
    await promoted(cluster);
    assert.deepEqual(await rows(cluster), committed);
    const log = await cluster.log();
    assert.match(log, /restored log file "00000002\.history" from archive/);
    assert.doesNotMatch(log, /WAL_ARCHIVE_HOLE|could not restore/);
    await cluster.stop();
  });

  test('with a segment deleted from the middle, recovery through walship wal-fetch stops with FATAL', { timeout: 180_000 }, async () => {
    const { config } = await loadConfig({ env: storeEnv });
    const store: StorageDriver = await openStore(config.store!, config.transfer);
    const keys: string[] = [];
    for await (const o of listAll(store, `${WAL_PREFIX}${batchSegments[1]}`)) keys.push(o.key);
    assert.equal(keys.length, 1, `one object for ${batchSegments[1]}: ${keys.join(', ')}`);
    await store.deleteMany(keys);
    await store.close();
    await assertStoppedAtHole(await restored(walshipCommand('wal-fetch %f %p'), storeEnv));
  });

  test('and through the agent, recovery stops with FATAL too', { timeout: 180_000 }, async () => {
    const shared = await postgresOwnedDir('walship-hole-shared-');
    dirs.push(shared);
    await chmod(shared, 0o755);
    const installed = await runWalship(['install-client', shared]);
    assert.equal(installed.code, 0, installed.stderr);
    await chownToPostgres(join(shared, 'spool'));
    const cluster = await restored(`${join(shared, 'walship-client')} wal-fetch %f %p`, {});
    const agent = await startAgentProcess({ ...storeEnv, PGDATA: cluster.dataDir, WALSHIP_SPOOL_DIR: join(shared, 'spool'), WALSHIP_UPLOAD_AHEAD: 'false', WALSHIP_BACKUP_SCHEDULE: 'off' });
    agents.push(agent);
    await assertStoppedAtHole(cluster);
    assert.ok(agent.logs().some((l) => l.code === 'WAL_ARCHIVE_HOLE'), 'the agent logged the hole');
  });

  test('WALSHIP_FETCH_HOLE=end: recovery ends at the hole, with exactly the rows committed before it', { timeout: 180_000 }, async () => {
    const cluster = await restored(walshipCommand('wal-fetch %f %p'), { ...storeEnv, WALSHIP_FETCH_HOLE: 'end' });
    await promoted(cluster);
    const got = await rows(cluster);
    assert.deepEqual(got, committed.filter((r) => r.batch === 1));
    assert.equal(got.length, 50);
    assert.match(await cluster.log(), new RegExp(`walship: warning: WAL_ARCHIVE_HOLE: ${batchSegments[1]} is not in the archive.*WALSHIP_FETCH_HOLE=end`));
    await cluster.stop();
  });
});
