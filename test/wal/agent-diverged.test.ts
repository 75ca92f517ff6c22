import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { WALSHIP_BIN, runWalship } from '../support/cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';

// Issue 11, part 4: a warm agent that has archived a segment must still
// judge every later push of that name by the file PostgreSQL names then,
// exactly as a freshly started agent would: a different file is refused
// with 73 and the store keeps the original; the same bytes answer 0.

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;

interface Row {
  id: number;
  note: string;
}

describe('a diverged segment pushed through a warm agent', () => {
  const dirs: string[] = [];
  const clusters: PgCluster[] = [];
  let agent: AgentProcess;
  let source: PgCluster;
  let storeRoot: string;
  let client: string;
  let backupRoot: string;

  /** archive_command's call, as PostgreSQL makes it: the client, run as postgres. */
  async function push(path: string): Promise<{ code: number; stderr: string }> {
    const argv = asRoot ? ['runuser', '-u', 'postgres', '--', client, 'wal-push', path] : [client, 'wal-push', path];
    try {
      const { stderr } = await run(argv[0]!, argv.slice(1));
      return { code: 0, stderr };
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      return { code: e.code ?? -1, stderr: e.stderr ?? '' };
    }
  }

  /** A file of a segment's name inside the data directory (the agent serves nothing outside it), owned by postgres. */
  async function place(dir: string, name: string, content: Buffer): Promise<string> {
    const sub = join(source.dataDir, dir);
    await mkdir(sub, { recursive: true });
    await chownToPostgres(sub);
    const path = join(sub, name);
    await writeFile(path, content);
    await chownToPostgres(path);
    return path;
  }

  before(async () => {
    storeRoot = await postgresOwnedDir('walship-diverged-store-');
    const shared = await postgresOwnedDir('walship-diverged-shared-');
    dirs.push(storeRoot, shared);
    await chmod(shared, 0o755);
    const installed = await runWalship(['install-client', shared]);
    assert.equal(installed.code, 0, installed.stderr);
    await chownToPostgres(join(shared, 'spool'));
    client = join(shared, 'walship-client');
    source = await PgCluster.create({ conf: { archive_mode: 'on', archive_command: `${client} wal-push %p`, archive_timeout: 0 } });
    clusters.push(source);
    agent = await startAgentProcess({ WALG_FILE_PREFIX: storeRoot, PGDATA: source.dataDir, WALSHIP_SPOOL_DIR: join(shared, 'spool') });
    await source.start();
    await source.query('create table t (id int primary key, note text not null)');
    await switchWal(source);
    const backup = await source.baseBackup('none');
    backupRoot = backup.root;
    dirs.push(backupRoot);
  });

  after(async () => {
    await agent?.stop();
    for (const c of clusters) await c.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('a different file of an archived name is refused with 73 and the store keeps the original; the same bytes answer 0', { timeout: 300_000 }, async (t) => {
    await source.query("insert into t select g, 'row-' || g from generate_series(1, 5000) g");
    const segment = await switchWal(source);
    await waitArchived(source, segment);
    const ahead = agent.logs().some((l) => l.msg === 'archived ahead' && l.segment === segment);
    t.diagnostic(`${segment} was first stored ${ahead ? 'by the upload ahead' : "by archive_command's push"}`);

    const objectPath = join(storeRoot, 'wal_005', `${segment}.lz4`);
    const stored = await readFile(objectPath);
    const scratch = await postgresOwnedDir('walship-diverged-fetched-');
    dirs.push(scratch);
    const fetched = join(scratch, segment);
    const got = await runWalship(['wal-fetch', segment, fetched], { WALG_FILE_PREFIX: storeRoot });
    assert.equal(got.code, 0, got.stderr);
    const original = await readFile(fetched);
    const diverged = Buffer.from(original);
    diverged[original.indexOf('row-2500')]! ^= 0x01;

    // Another file under the archived name (the other side of a split brain).
    const other = await place('split-brain', segment, diverged);
    const refused = await push(other);
    assert.equal(refused.code, 73, refused.stderr);
    assert.match(refused.stderr, /WAL_OVERWRITE_CONFLICT: .*already archived .* with different content/);
    assert.deepEqual(await readFile(objectPath), stored, 'the store keeps the original');
    // And again: a refusal is not remembered as anything else.
    assert.equal((await push(other)).code, 73);

    // The same bytes in another file: archived already, 0.
    const same = await place('same', segment, original);
    const accepted = await push(same);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal((await push(same)).code, 0, 'and again, unchanged');

    // That very file rewritten in place (same inode), its mtime set back as cp -p would: only ctime tells.
    const before = await stat(same);
    const handle = await open(same, 'r+');
    await handle.write(diverged, 0, diverged.length, 0);
    await handle.close();
    await utimes(same, before.atime, before.mtime);
    assert.equal((await stat(same)).ino, before.ino);
    const rewritten = await push(same);
    assert.equal(rewritten.code, 73, rewritten.stderr);
    assert.match(rewritten.stderr, /WAL_OVERWRITE_CONFLICT/);
    await writeFile(same, original);
    assert.equal((await push(same)).code, 0, 'the original bytes again');
    assert.deepEqual(await readFile(objectPath), stored, 'the store still holds the original');

    const conflicts = agent.logs().filter((l) => l.code === 'WAL_OVERWRITE_CONFLICT').length;
    assert.equal(conflicts, 3, 'each refusal logged by the agent');
  });

  test('the archive the warm agent kept restores every committed row', { timeout: 300_000 }, async () => {
    await source.query("insert into t select g, 'later-' || g from generate_series(5001, 5100) g");
    const last = await switchWal(source);
    await waitArchived(source, last);
    const committed = await source.query<Row>('select id, note from t order by id');
    const restored = await PgCluster.adopt(backupRoot, join(backupRoot, 'data'), {
      conf: { restore_command: `WALG_FILE_PREFIX='${storeRoot}' '${process.execPath}' '${WALSHIP_BIN}' wal-fetch %f %p`, archive_mode: 'off' },
    });
    clusters.push(restored);
    await writeFile(join(backupRoot, 'data', 'recovery.signal'), '');
    await chownToPostgres(join(backupRoot, 'data', 'recovery.signal'));
    await restored.start();
    await restored.waitPromoted();
    assert.deepEqual(await restored.query<Row>('select id, note from t order by id'), committed);
    assert.equal(committed.length, 5100);
  });
});
