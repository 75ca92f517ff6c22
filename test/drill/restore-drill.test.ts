import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DrillReport } from '../../agent/drill/report.ts';
import { runWalship, type CliResult } from '../support/cli.ts';
import { archiveAll, describeCli, pushBackup, removeAll, startArchivingSource } from '../support/backup-harness.ts';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import { chownToPostgres, type PgCluster } from '../support/pg-cluster.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';
import { flipByte } from '../support/tamper.ts';
import { serversUnder } from '../support/processes.ts';

// restore-drill with real PostgreSQL 15 against a filesystem store: a good
// archive, a tampered backup, a segment missing from the middle of the
// archive; after each, no directory and no server process are left.

describe('restore-drill', () => {
  let store: BackupStore;
  let root: string;
  let source: PgCluster;
  let backup: string;
  let drillDir: string;
  let env: Record<string, string>;
  const dirs: string[] = [];

  async function drill(args: readonly string[] = [], extra: Record<string, string> = {}): Promise<{ r: CliResult; report: DrillReport }> {
    const r = await runWalship(['restore-drill', '--json', ...args], { ...env, ...extra });
    let report: DrillReport;
    try {
      report = JSON.parse(r.stdout) as DrillReport;
    } catch {
      assert.fail(`restore-drill printed no JSON: ${describeCli(r)}`);
    }
    return { r, report };
  }

  async function assertNothingLeft(): Promise<void> {
    assert.deepEqual(await readdir(drillDir), [], 'the scratch directory is deleted');
    assert.deepEqual(await serversUnder(drillDir), [], 'no server of the drill is left running');
  }

  before(async () => {
    store = await filesystemStore.start('');
    root = store.config.kind === 'fs' ? store.config.root : assert.fail('a filesystem store');
    source = await startArchivingSource(store.env, { dataChecksums: true });
    await source.pgbench(['-i', '-s', '2', '-q']);
    backup = await pushBackup(source, store.env);
    drillDir = await mkdtemp(join(tmpdir(), 'walship-scratch-test-'));
    await chownToPostgres(drillDir);
    dirs.push(drillDir);
    env = { ...store.env, PGUSER: 'postgres', WALSHIP_DRILL_DIR: drillDir };
  });

  after(async () => {
    await source?.destroy();
    await removeAll(dirs);
    await store?.stop();
  });

  test('succeeds on a good archive, recovered to the last commit, with an RPO of seconds after a WAL switch', { timeout: 240_000 }, async () => {
    await source.query('create table drill_mark (id int primary key, at timestamptz default now()); insert into drill_mark select g from generate_series(1, 777) g');
    const [lsnRow] = await source.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    await archiveAll(source);
    const { r, report } = await drill(['--amcheck', '--query', 'select count(*) = 777 from drill_mark']);
    assert.equal(r.code, 0, describeCli(r));
    assert.equal(report.status, 'ok', JSON.stringify(report, null, 2));
    assert.equal(report.backup, backup);
    assert.deepEqual(report.checks.map((c) => [c.name, c.ok]), [['consistent', true], ['accepts-queries', true], ['amcheck', true], ['query', true], ['controldata', true]]);
    assert.match(report.checks.find((c) => c.name === 'amcheck')!.detail, /passed on \d+ btree indexes/);
    assert.equal(report.recoveredTo?.timeFrom, 'last-transaction');
    const lsn = (t: string) => BigInt(`0x${t.split('/')[0]}`) * 2n ** 32n + BigInt(`0x${t.split('/')[1]}`);
    assert.ok(lsn(report.recoveredTo!.lsn) >= lsn(lsnRow!.lsn), `recovered past the mark: ${report.recoveredTo!.lsn} >= ${lsnRow!.lsn}`);
    assert.ok(report.rpoSeconds! >= 0 && report.rpoSeconds! < 60, `RPO of seconds: ${report.rpoSeconds}`);
    assert.ok(report.restoreSeconds! > 0 && report.recoverySeconds! > 0);
    assert.ok(Math.abs(report.rtoSeconds! - report.restoreSeconds! - report.recoverySeconds!) < 0.01);
    assert.equal(report.cleanedUp, true);
    await assertNothingLeft();
    // The text report says the same; and a scratch directory an earlier, killed drill left is swept.
    await mkdir(join(drillDir, 'walship-drill-left'), { recursive: true });
    await writeFile(join(drillDir, 'walship-drill-left', 'x'), 'x');
    const text = await runWalship(['restore-drill'], env);
    assert.equal(text.code, 0, describeCli(text));
    assert.match(text.stdout, new RegExp(`^restore drill of ${backup}: ok$`, 'm'));
    assert.match(text.stdout, /RPO: [\d.]+ s; RTO: [\d.]+ s \(restore [\d.]+ s, recovery [\d.]+ s\)/);
    await assertNothingLeft();
  });

  test('a query that is not true fails the drill, and says what it returned', { timeout: 240_000 }, async () => {
    const { r, report } = await drill(['--query', 'select count(*) = 1 from drill_mark']);
    assert.equal(r.code, 65, describeCli(r));
    assert.match(r.stderr, /DRILL_FAILED: .*failed at checks: .*query: select count\(\*\) = 1 from drill_mark returned false/);
    assert.equal(report.status, 'failure');
    assert.deepEqual(report.checks.filter((c) => !c.ok).map((c) => c.name), ['query']);
    await assertNothingLeft();
  });

  test('fails loudly on a tampered backup, naming the part, and leaves nothing behind', { timeout: 240_000 }, async () => {
    const partsDir = join(root, 'basebackups_005', backup, 'tar_partitions');
    const parts = (await readdir(partsDir)).filter((f) => /^part_\d+\.tar/.test(f));
    const sized = await Promise.all(parts.map(async (f) => ({ f, size: (await stat(join(partsDir, f))).size })));
    const { f, size } = sized.sort((a, b) => b.size - a.size)[0]!;
    const path = join(partsDir, f);
    await copyFile(path, `${path}.saved`);
    try {
      await flipByte(path, Math.floor(size / 2));
      const { r, report } = await drill();
      assert.equal(r.code, 65, describeCli(r));
      assert.match(r.stderr, /DRILL_FAILED: restore drill of .* failed at restore: (BACKUP_CORRUPT|CODEC_CORRUPT|STORE_CORRUPT): /);
      assert.equal(report.status, 'failure');
      assert.equal(report.failure?.step, 'restore');
      assert.ok(report.failure!.message.includes(`tar_partitions/${f}`), `names the part: ${report.failure!.message}`);
      assert.equal(report.recoveredTo, undefined);
      assert.equal(report.cleanedUp, true);
      await assertNothingLeft();
    } finally {
      await rename(`${path}.saved`, path);
    }
  });

  test('fails loudly on a segment missing from the middle of the archive, and leaves nothing behind', { timeout: 240_000 }, async () => {
    // Three more segments after the backup; the middle one goes missing.
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      await source.query(`insert into drill_mark select g from generate_series(${1000 + i * 100}, ${1000 + i * 100 + 99}) g`);
      const name = await switchWal(source);
      await waitArchived(source, name);
      names.push(name);
    }
    const walDir = join(root, 'wal_005');
    const object = (await readdir(walDir)).find((f) => new RegExp(`^${names[1]}\\.[a-z0-9]+$`).test(f));
    assert.ok(object, `segment ${names[1]} is archived`);
    const path = join(walDir, object);
    await rename(path, `${path}.gone`);
    try {
      const { r, report } = await drill([], { WALSHIP_FETCH_TIMEOUT: '20s' });
      assert.equal(r.code, 65, describeCli(r));
      assert.equal(report.status, 'failure');
      assert.equal(report.failure?.step, 'recovery');
      assert.match(report.failure!.message, new RegExp(names[1]!), `names the missing segment: ${report.failure!.message}`);
      assert.equal(report.cleanedUp, true);
      await assertNothingLeft();
    } finally {
      await rename(`${path}.gone`, path);
    }
  });

  test('refuses a drill over its disk budget, and a drill without the backup’s server binaries, before it starts', { timeout: 60_000 }, async () => {
    const over = await runWalship(['restore-drill'], { ...env, WALSHIP_DRILL_DISK_BUDGET: '10' });
    assert.equal(over.code, 73, describeCli(over));
    assert.match(over.stderr, /DRILL_REFUSED: a restore drill of base_\w+ needs about \d+ MiB .* over WALSHIP_DRILL_DISK_BUDGET=10 MiB/);
    const nobin = await runWalship(['restore-drill'], { ...env, WALSHIP_PGBIN: '/nonexistent/bin' });
    assert.equal(nobin.code, 73, describeCli(nobin));
    assert.match(nobin.stderr, /DRILL_REFUSED: a restore drill needs the PostgreSQL 15 server binaries .* WALSHIP_PGBIN=\/nonexistent\/bin/);
    const badTarget = await runWalship(['restore-drill', '--target-time', 'yesterday'], env);
    assert.equal(badTarget.code, 64, describeCli(badTarget));
    await assertNothingLeft();
  });
});
