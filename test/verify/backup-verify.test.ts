import assert from 'node:assert/strict';
import { copyFile, readdir, rename, stat, truncate } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BackupVerifyReport } from '../../agent/verify/report.ts';
import { runWalship, type CliResult } from '../support/cli.ts';
import { archiveAll, describeCli, pushBackup, removeAll, startArchivingSource } from '../support/backup-harness.ts';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import type { PgCluster } from '../support/pg-cluster.ts';
import { flipByte } from '../support/tamper.ts';

// backup-verify against a real PostgreSQL 15 backup in a filesystem store,
// damaged the ways a store damages data: a flipped byte, a truncated part,
// a WAL segment gone, a data page rotted on disk before the backup.

async function verify(env: Record<string, string>, args: readonly string[] = []): Promise<{ r: CliResult; reports: BackupVerifyReport[] }> {
  const r = await runWalship(['backup-verify', ...args, '--json'], env);
  let reports: BackupVerifyReport[];
  try {
    reports = JSON.parse(r.stdout) as BackupVerifyReport[];
  } catch {
    assert.fail(`backup-verify printed no JSON: ${describeCli(r)}`);
  }
  return { r, reports };
}

describe('backup-verify', () => {
  let store: BackupStore;
  let root: string;
  let source: PgCluster;
  let backup: string;
  const dirs: string[] = [];

  const partsDir = () => join(root, 'basebackups_005', backup, 'tar_partitions');
  /** The largest part: the one holding the table's data. */
  async function largestPart(): Promise<{ path: string; key: string; size: number }> {
    const files = (await readdir(partsDir())).filter((f) => /^part_\d+\.tar/.test(f));
    const sized = await Promise.all(files.map(async (f) => ({ f, size: (await stat(join(partsDir(), f))).size })));
    const { f, size } = sized.sort((a, b) => b.size - a.size)[0]!;
    return { path: join(partsDir(), f), key: `basebackups_005/${backup}/tar_partitions/${f}`, size };
  }
  /** Damages a copy's original for the length of one check, then puts it back. */
  async function withDamaged(path: string, damage: () => Promise<void>, check: () => Promise<void>): Promise<void> {
    const saved = `${path}.saved`;
    await copyFile(path, saved);
    try {
      await damage();
      await check();
    } finally {
      await rename(saved, path);
    }
  }

  /**
   * The filesystem store checks its own sidecar first and refuses a damaged
   * object whole (STORE_CORRUPT). Without the sidecar, as in a WAL-G store,
   * the object reaches the decoder and the manifest's checks.
   */
  async function withoutSidecar(path: string, check: () => Promise<void>): Promise<void> {
    const meta = join(dirname(path), `.${basename(path)}.walship-meta`);
    await rename(meta, `${meta}.away`);
    try {
      await check();
    } finally {
      await rename(`${meta}.away`, meta);
    }
  }

  before(async () => {
    store = await filesystemStore.start('');
    root = store.config.kind === 'fs' ? store.config.root : assert.fail('a filesystem store');
    source = await startArchivingSource(store.env, { dataChecksums: true });
    await source.pgbench(['-i', '-s', '3', '-q']);
    backup = await pushBackup(source, { ...store.env, WALSHIP_BACKUP_PART_SIZE: '8' });
    await archiveAll(source);
  });

  after(async () => {
    await source?.destroy();
    await removeAll(dirs);
    await store?.stop();
  });

  test('passes on an intact backup, with page checksums and its WAL checked', { timeout: 120_000 }, async () => {
    const { r, reports } = await verify(store.env);
    assert.equal(r.code, 0, describeCli(r));
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.equal(report!.backup, backup);
    assert.equal(report!.status, 'ok');
    assert.deepEqual(report!.problems, []);
    assert.equal(report!.pageChecksums, 'checked');
    assert.ok(report!.parts >= 2, `several parts: ${report!.parts}`);
    assert.ok(report!.bytes > 30_000_000, `all the data was read: ${report!.bytes}`);
    assert.ok(report!.wal.files >= 1);
    // The text form says the same.
    const text = await runWalship(['backup-verify', backup], store.env);
    assert.equal(text.code, 0, describeCli(text));
    assert.match(text.stdout, new RegExp(`^${backup}: ok \\(`, 'm'));
  });

  test('fails naming the part and the file on one flipped byte inside a file', { timeout: 120_000 }, async () => {
    const part = await largestPart();
    await withDamaged(part.path, () => flipByte(part.path, Math.floor(part.size / 2)), async () => {
      const caught = await verify(store.env, [backup]);
      assert.equal(caught.r.code, 65, describeCli(caught.r));
      assert.deepEqual(caught.reports[0]!.problems.map((p) => [p.kind, (p as { part?: string }).part, (p as { code?: string }).code]), [['part-unreadable', part.key, 'STORE_CORRUPT']], 'the store itself refuses the damaged part');
    });
    await withDamaged(part.path, () => flipByte(part.path, Math.floor(part.size / 2)), () => withoutSidecar(part.path, async () => {
      const { r, reports } = await verify(store.env, [backup]);
      assert.equal(r.code, 65, describeCli(r));
      assert.match(r.stderr, /BACKUP_CORRUPT/);
      const problems = reports[0]!.problems;
      assert.equal(reports[0]!.status, 'failure');
      // The file decodes to other bytes (its sha256 and pages fail), and the frame's checksum fails at its end.
      assert.ok(problems.length >= 1, JSON.stringify(problems));
      for (const p of problems) {
        assert.ok(p.kind === 'part-unreadable' || p.kind === 'file-mismatch' || p.kind === 'page-checksum', JSON.stringify(p));
        assert.equal(p.part, part.key, 'every problem names the damaged part');
      }
      const file = problems.map((p) => (p as { file?: string }).file).find((f) => f !== undefined);
      assert.ok(file !== undefined && /^base\/\d+\/\d+/.test(file), `names the relation file: ${JSON.stringify(problems)}`);
      const text = await runWalship(['backup-verify', backup], store.env);
      assert.equal(text.code, 65, describeCli(text));
      assert.ok(text.stdout.includes(file) && text.stdout.includes(part.key), `the text report names both: ${text.stdout}`);
    }));
  });

  test('fails on a truncated part', { timeout: 120_000 }, async () => {
    const part = await largestPart();
    await withDamaged(part.path, () => truncate(part.path, Math.floor(part.size / 3)), () => withoutSidecar(part.path, async () => {
      const { r, reports } = await verify(store.env, [backup]);
      assert.equal(r.code, 65, describeCli(r));
      const problems = reports[0]!.problems;
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]!.kind, 'part-unreadable');
      assert.equal((problems[0] as { part: string }).part, part.key);
      assert.match(problems[0]!.message, /truncated|end/i);
    }));
  });

  test('fails on a missing WAL segment in the backup’s range, naming it, with its own exit code', { timeout: 120_000 }, async () => {
    const { reports: [ok] } = await verify(store.env, [backup]);
    const segment = ok!.wal.from;
    const walDir = join(root, 'wal_005');
    const object = (await readdir(walDir)).find((f) => new RegExp(`^${segment}\\.[a-z0-9]+$`).test(f));
    assert.ok(object, `the backup's first segment ${segment} is archived`);
    const path = join(walDir, object);
    await rename(path, `${path}.gone`);
    try {
      const { r, reports } = await verify(store.env, [backup]);
      assert.equal(r.code, 66, describeCli(r));
      assert.match(r.stderr, /BACKUP_WAL_INCOMPLETE/);
      assert.deepEqual(
        reports[0]!.problems.map((p) => [p.kind, (p as { segment?: string }).segment]),
        [['wal-missing', segment]],
      );
    } finally {
      await rename(`${path}.gone`, path);
    }
  });

  test('a damaged WAL segment is named as damaged, not missing', { timeout: 120_000 }, async () => {
    const { reports: [ok] } = await verify(store.env, [backup]);
    const walDir = join(root, 'wal_005');
    const object = (await readdir(walDir)).find((f) => new RegExp(`^${ok!.wal.to}\\.[a-z0-9]+$`).test(f))!;
    const path = join(walDir, object);
    await withDamaged(path, async () => truncate(path, Math.floor((await stat(path)).size / 2)), async () => {
      const { r, reports } = await verify(store.env, [backup]);
      assert.equal(r.code, 65, describeCli(r));
      assert.deepEqual(reports[0]!.problems.map((p) => [p.kind, (p as { segment?: string }).segment]), [['wal-damaged', ok!.wal.to]]);
    });
  });

  test('bad input: a name and --all, and an unknown backup, each say why', { timeout: 60_000 }, async () => {
    const both = await runWalship(['backup-verify', backup, '--all'], store.env);
    assert.equal(both.code, 64, describeCli(both));
    assert.match(both.stderr, /USAGE: backup-verify: give a backup name .* or --all, not both/);
    const unknown = await runWalship(['backup-verify', 'base_000000010000000000000099'], store.env);
    assert.equal(unknown.code, 74, describeCli(unknown));
    assert.match(unknown.stderr, /no complete backup named base_000000010000000000000099.*backups: /);
  });

  test('names the block of a data page that rotted on disk before the backup; --all covers every backup', { timeout: 180_000 }, async () => {
    await source.query('create table victim (id int, pad text); insert into victim select g, repeat($$x$$, 200) from generate_series(1, 2000) g; checkpoint');
    const [row] = await source.query<{ path: string }>("select pg_relation_filepath('victim') as path");
    const rel = row!.path;
    // A byte in the middle of block 1's tuples: the page header (and its LSN) untouched.
    await flipByte(join(source.dataDir, rel), 8192 + 4000);
    const second = await pushBackup(source, store.env);
    await archiveAll(source);
    const { r, reports } = await verify(store.env, ['--all']);
    assert.equal(r.code, 65, describeCli(r));
    assert.deepEqual(reports.map((x) => [x.backup, x.status]), [[backup, 'ok'], [second, 'failure']]);
    assert.deepEqual(
      reports[1]!.problems.map((p) => [p.kind, (p as { file?: string }).file, (p as { block?: number }).block]),
      [['page-checksum', rel, 1]],
    );
  });
});
