import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { BackupSentinel } from '../../agent/backup/manifest.ts';
import { parseLsn } from '../../agent/wal/names.ts';
import { runWalship } from '../support/cli.ts';
import { PgCluster } from '../support/pg-cluster.ts';
import { Ledger, archiveAll, describeCli, ledgerState, listBackups, pushBackup, restoreRoot, startArchivingSource, startPromoted, walshipCommand, type LedgerTarget, backupTestResources } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';

// Point-in-time recovery to random targets, times and LSNs, between and
// after two backups. A single writer fills a ledger; each target is taken
// between two of its commits, so the ledger at each target is known exactly.
// All recoveries reuse one directory: each after the first is a delta restore
// over the previous, promoted cluster.

type Candidate = LedgerTarget & { period: 'between' | 'during second backup' | 'after' };

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** 10 targets with both kinds and both periods well represented. */
function chooseTargets(candidates: readonly Candidate[]): Candidate[] {
  for (;;) {
    const chosen = shuffled(candidates).slice(0, 10);
    const count = (f: (c: Candidate) => boolean) => chosen.filter(f).length;
    if (count((c) => c.kind === 'time') >= 4 && count((c) => c.kind === 'lsn') >= 4 && count((c) => c.period === 'after') >= 3 && count((c) => c.period !== 'after') >= 3) return chosen;
  }
}

/** The backup a restore to this target must start from. */
function expectedBackup(backups: readonly BackupSentinel[], target: LedgerTarget): BackupSentinel {
  const usable =
    target.kind === 'time'
      ? backups.filter((b) => Date.parse(b.finishTime) <= Date.parse(target.value))
      : backups.filter((b) => parseLsn(b.stopLsn) <= parseLsn(target.value));
  assert.ok(usable.length > 0, `no backup can reach ${target.value}`);
  return usable.at(-1)!;
}

describe('point-in-time recovery with backup-fetch', () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;

  test('10 random time and LSN targets around two backups recover exactly', { timeout: 300_000 }, async (t) => {
    const store = (resources.store = await filesystemStore.start('pitr'));
    const source = await startArchivingSource(store.env);
    clusters.push(source);
    const ledger = (resources.ledger = await Ledger.create(source));
    await ledger.writeMany(50);
    ledger.start(4);

    const candidates: Candidate[] = [];
    const markSome = async (n: number, period: Candidate['period']) => {
      for (let i = 0; i < n; i++) {
        await sleep(60 + Math.random() * 200);
        candidates.push({ ...(await ledger!.mark(Math.random() < 0.5 ? 'time' : 'lsn')), period });
      }
    };

    const first = await pushBackup(source, store.env);
    await markSome(7, 'between');
    const pushingSecond = pushBackup(source, store.env);
    await markSome(2, 'during second backup');
    const second = await pushingSecond;
    await markSome(8, 'after');
    await sleep(100);
    await ledger.close();
    await archiveAll(source);

    const backups = await listBackups(store.env);
    assert.deepEqual(
      backups.map((b) => b.name),
      [first, second],
      'oldest first',
    );
    assert.deepEqual(await listBackups(store.env), backups, 'the listing is stable');
    for (const b of backups) assert.equal(b.permanent, false);
    assert.ok(Date.parse(backups[0]!.finishTime) <= Date.parse(backups[1]!.startTime));

    const targets = chooseTargets(candidates);
    const where = await restoreRoot();
    dirs.push(where.root);
    for (const [i, target] of targets.entries()) {
      const wanted = expectedBackup(backups, target);
      // Times go through LATEST (the newest backup finished before the time); LSNs name their backup unless it is the newest.
      const backupArg = target.kind === 'time' || wanted.name === second ? 'LATEST' : wanted.name;
      // Times are given in both forms users write: '2026-11-21 13:45:00.123456+00' and ISO 8601's '2026-11-21T13:45:00.123456Z'.
      const value = target.kind === 'time' && i % 2 === 1 ? target.value.replace(' ', 'T').replace('+00', 'Z') : target.value;
      const started = Date.now();
      const r = await runWalship(
        ['backup-fetch', where.dataDir, backupArg, `--target-${target.kind}`, value, '--target-action', 'promote', '--restore-command', walshipCommand('wal-fetch %f %p')],
        store.env,
      );
      assert.equal(r.code, 0, describeCli(r));
      const m = /^(\S+) restored into \S+ \((full|delta): (\d+) files written, [^;]+; (\d+) kept; (\d+) removed\)/m.exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.equal(m[1], wanted.name, `backup chosen for ${target.kind} ${target.value}`);
      assert.equal(m[2], i === 0 ? 'full' : 'delta');
      if (i > 0) assert.ok(Number(m[4]) > 0, `a delta restore keeps unchanged files: ${r.stdout}`);

      const cluster = await PgCluster.adopt(where.root, where.dataDir, { conf: { archive_mode: 'off' }, env: store.env });
      clusters.push(cluster);
      await startPromoted(cluster);
      const state = await ledgerState(cluster);
      await cluster.stop();
      clusters.pop();
      t.diagnostic(`${target.kind} ${value} (${target.period}) from ${wanted.name} (${m[2]}): ${state.count} rows, ${Date.now() - started} ms`);
      assert.deepEqual(state, { ...target.expected, consistent: true }, `ledger at ${target.kind} ${target.value} (${target.period})`);
    }
  });
});
