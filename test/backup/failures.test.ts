import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WALSHIP_BIN, runWalship } from '../support/cli.ts';
import { PgCluster, postgresOwnedDir } from '../support/pg-cluster.ts';
import { freePort } from '../support/ports.ts';
import {
  archiveAll,
  describeCli,
  fingerprint,
  listBackups,
  pgEnv,
  pushBackup,
  removeAll,
  restoreRoot,
  startArchivingSource,
  startPromoted,
  waitFor,
  walshipCommand,
} from '../support/backup-harness.ts';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import { flipByte } from '../support/tamper.ts';

// What must go wrong cleanly: a backup-push killed mid-upload, a tampered
// part, and bad input.

const exists = (path: string) => access(path).then(() => true, () => false);

/** The part objects of a backup in a filesystem store (not the store's hidden temp and sidecar files). */
async function partFiles(storeRoot: string, name?: string): Promise<string[]> {
  const base = join(storeRoot, 'basebackups_005');
  const names = name ? [name] : await readdir(base).catch(() => []);
  const out: string[] = [];
  for (const n of names) {
    const dir = join(base, n, 'tar_partitions');
    for (const f of await readdir(dir).catch(() => [])) if (/^part_\d+\.tar/.test(f)) out.push(join(dir, f));
  }
  return out.sort();
}

describe('backup failures', () => {
  let store: BackupStore;
  let storeRoot: string;
  let source: PgCluster;
  let goodBackup: string;
  let expected: Record<string, string>;
  const clusters: PgCluster[] = [];
  const dirs: string[] = [];

  before(async () => {
    store = await filesystemStore.start('');
    storeRoot = store.config.kind === 'fs' ? store.config.root : assert.fail('a filesystem store');
    source = await startArchivingSource(store.env);
    clusters.push(source);
    await source.pgbench(['-i', '-s', '4', '-q']);
  });

  after(async () => {
    for (const c of clusters) await c.destroy();
    await removeAll(dirs);
    await store.stop();
  });

  test('a backup-push killed while uploading parts leaves no backup, and the next one succeeds', { timeout: 120_000 }, async () => {
    // 1 MiB parts: about 60 of them, so the upload is well under way, not done, when it is killed.
    const child = spawn(process.execPath, [WALSHIP_BIN, 'backup-push'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...pgEnv(source), ...store.env, WALSHIP_BACKUP_PART_SIZE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.resume();
    const exited = once(child, 'exit');
    await waitFor(async () => {
      if (child.exitCode !== null) assert.fail(`backup-push ended before it was killed: exit ${child.exitCode}\n${stderr}`);
      return (await partFiles(storeRoot)).length >= 2;
    }, 'parts to be uploaded', 60_000);
    child.kill('SIGKILL');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.equal(signal, 'SIGKILL', `killed, not exited (${code})`);
    const leftovers = await partFiles(storeRoot);
    assert.ok(leftovers.length >= 2, 'the killed backup left parts behind');
    const killedName = leftovers[0]!.split('/').at(-3)!;

    assert.deepEqual(await listBackups(store.env), [], 'an unfinished backup is never listed');
    const show = await runWalship(['backup-show', killedName], store.env);
    assert.equal(show.code, 74, describeCli(show));
    // The server ended backup mode with walship's session.
    await waitFor(async () => (await source.query("select 1 from pg_stat_activity where application_name = 'walship'")).length === 0, 'the killed session to end', 20_000);

    await source.query('update pgbench_accounts set abalance = abalance + 7 where aid % 97 = 0');
    goodBackup = await pushBackup(source, store.env);
    assert.notEqual(goodBackup, killedName);
    const list = await listBackups(store.env);
    assert.deepEqual(
      list.map((b) => b.name),
      [goodBackup],
    );
    expected = await fingerprint(source, ['pgbench_accounts']);
    await archiveAll(source);
  });

  test('a tampered part fails backup-fetch clearly and leaves nothing startable; the untampered backup then restores', { timeout: 120_000 }, async (t) => {
    assert.ok(goodBackup, 'needs the backup of the test before');
    const parts = await partFiles(storeRoot, goodBackup);
    assert.ok(parts.length >= 1);
    const part = parts[0]!;
    const size = (await stat(part)).size;
    const where = await restoreRoot();
    dirs.push(where.root);
    // A byte early (the first file's tar header), in the middle, and in the last bytes (the frame's end and checksum).
    for (const offset of [40, Math.floor(size / 2), size - 3]) {
      await flipByte(part, offset);
      const r = await runWalship(['backup-fetch', where.dataDir, goodBackup, '--restore-command', walshipCommand('wal-fetch %f %p')], store.env);
      await flipByte(part, offset);
      t.diagnostic(`byte ${offset} of ${size} flipped: ${r.stderr.trim().split('\n').at(-1)}`);
      assert.equal(r.code, 65, `byte ${offset} of ${size} flipped: ${describeCli(r)}`);
      assert.match(r.stderr, /walship: (BACKUP_CORRUPT|CODEC_CORRUPT|STORE_CORRUPT): /, `byte ${offset}`);
      assert.match(r.stderr, /part_001/, 'the error names the damaged part');
      assert.equal(await exists(join(where.dataDir, 'global', 'pg_control')), false, `no pg_control after a failed restore (byte ${offset})`);
    }
    // Uncompressed, nothing but the manifest's checksums and the tar format stand guard.
    const plain = await pushBackup(source, { ...store.env, WALG_COMPRESSION_METHOD: 'none' });
    const plainPart = (await partFiles(storeRoot, plain))[0]!;
    assert.match(plainPart, /part_001\.tar$/);
    const plainSize = (await stat(plainPart)).size;
    // Without the store's sidecar (as in a WAL-G store), the store's own
    // checksum cannot catch the flip: the manifest's and the tar format must.
    await rm(join(dirname(plainPart), `.${basename(plainPart)}.walship-meta`));
    // A tar header field (the first file's mode), and file data in the middle.
    for (const offset of [100, Math.floor(plainSize / 2)]) {
      await flipByte(plainPart, offset);
      const r = await runWalship(['backup-fetch', where.dataDir, plain], store.env);
      await flipByte(plainPart, offset);
      t.diagnostic(`uncompressed, byte ${offset} of ${plainSize} flipped: ${r.stderr.trim().split('\n').at(-1)}`);
      assert.equal(r.code, 65, `byte ${offset} of ${plainSize} flipped: ${describeCli(r)}`);
      assert.match(r.stderr, /walship: BACKUP_CORRUPT: .*part_001\.tar/, `byte ${offset}`);
      assert.equal(await exists(join(where.dataDir, 'global', 'pg_control')), false, `no pg_control after a failed restore (byte ${offset})`);
    }

    // The same directory, now a delta over the failed attempts, with the backup intact again.
    const r = await runWalship(['backup-fetch', where.dataDir, goodBackup, '--restore-command', walshipCommand('wal-fetch %f %p')], store.env);
    assert.equal(r.code, 0, describeCli(r));
    assert.match(r.stdout, /\(delta: /);
    const restored = await PgCluster.adopt(where.root, where.dataDir, { conf: { archive_mode: 'off' }, env: store.env });
    clusters.push(restored);
    await startPromoted(restored);
    assert.deepEqual(await fingerprint(restored, ['pgbench_accounts']), expected);
  });

  test('backup-fetch of an unknown backup names the ones that exist', async () => {
    const where = await restoreRoot();
    dirs.push(where.root);
    const r = await runWalship(['backup-fetch', where.dataDir, 'base_000000010000000000000099'], store.env);
    assert.equal(r.code, 74, describeCli(r));
    assert.match(r.stderr, /STORE_NOT_FOUND: .*base_000000010000000000000099/);
    assert.ok(r.stderr.includes(goodBackup), `lists ${goodBackup}: ${r.stderr}`);
    assert.equal(await exists(join(where.dataDir, 'global')), false);

    // LATEST before a target time that precedes every backup: nothing to start from.
    const early = await runWalship(['backup-fetch', where.dataDir, 'LATEST', '--target-time', '2001-01-01 00:00:00+00'], store.env);
    assert.equal(early.code, 74, describeCli(early));
    assert.match(early.stderr, /STORE_NOT_FOUND: no backup in .* finished before 2001-01-01T00:00:00\.000Z; the oldest finished at /);
    assert.equal(await exists(join(where.dataDir, 'global')), false);
  });

  test('backup-fetch refuses a directory holding postmaster.pid, and touches nothing in it', async () => {
    const dir = await postgresOwnedDir('walship-running-');
    dirs.push(dir);
    await writeFile(join(dir, 'postmaster.pid'), '12345\n');
    await writeFile(join(dir, 'PG_VERSION'), '15\n');
    const r = await runWalship(['backup-fetch', dir, 'LATEST'], store.env);
    assert.equal(r.code, 73, describeCli(r));
    assert.match(r.stderr, /RESTORE_REFUSED: .*postmaster\.pid/);
    assert.deepEqual((await readdir(dir)).sort(), ['PG_VERSION', 'postmaster.pid']);
  });

  test('two recovery targets at once are a usage error', async () => {
    const where = await restoreRoot();
    dirs.push(where.root);
    const r = await runWalship(['backup-fetch', where.dataDir, 'LATEST', '--target-time', '2026-01-01 00:00:00+00', '--target-lsn', '0/3000000'], store.env);
    assert.equal(r.code, 64, describeCli(r));
    assert.match(r.stderr, /USAGE: .*at most one/);
    assert.equal(await exists(where.dataDir), false, 'nothing restored');
  });

  test('backup-push refuses PGDATA of another cluster than the server it connects to', async () => {
    const other = await PgCluster.create();
    clusters.push(other);
    const objectsBefore = await readdir(join(storeRoot, 'basebackups_005'));
    const r = await runWalship(['backup-push'], { ...store.env, ...pgEnv(source), PGDATA: other.dataDir });
    assert.equal(r.code, 78, describeCli(r));
    assert.match(r.stderr, /CONFIG_INVALID: PGDATA .* belongs to database system \d+, but the server at PGHOST\/PGPORT is system \d+/);
    assert.deepEqual(await readdir(join(storeRoot, 'basebackups_005')), objectsBefore, 'nothing written to the store');
  });

  test('backup-push against an unreachable PostgreSQL fails quickly with PG_UNREACHABLE', async () => {
    const emptySocketDir = await postgresOwnedDir('walship-nosock-');
    dirs.push(emptySocketDir);
    for (const pg of [{ PGHOST: emptySocketDir, PGPORT: '5432' }, { PGHOST: '127.0.0.1', PGPORT: String(await freePort()) }]) {
      const started = Date.now();
      const r = await runWalship(['backup-push'], { ...store.env, ...pg, PGUSER: 'postgres', PGDATA: source.dataDir });
      const took = Date.now() - started;
      assert.equal(r.code, 69, describeCli(r));
      assert.match(r.stderr, /PG_UNREACHABLE: cannot connect to PostgreSQL/);
      assert.ok(took < 5_000, `failed in ${took} ms`);
    }
  });
});
