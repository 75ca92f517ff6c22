import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sentinelKey } from '../../agent/backup/layout.ts';
import { planRetention, type RetentionPlan } from '../../agent/backup/retention-plan.ts';
import { describePlan } from '../../agent/backup/retention-report.ts';
import { automaticRule } from '../../agent/backup/retention.ts';
import { isWalshipError } from '../../agent/errors.ts';
import { DAY, at, inventory, seg, sentinel, unfinishedObjects, walKey, walRange } from './fixtures.ts';

// Pure planning: which backups and which WAL each rule deletes.

const names = (list: readonly { name: string }[]) => list.map((b) => b.name);
const keysOf = (plan: RetentionPlan, step: string) => plan.steps.find((s) => s.step === step)?.keys ?? [];
/** The WAL a plan deletes as "TL:pos" labels, e.g. "1:5", or the file name for history and .backup files. */
const walLabels = (plan: RetentionPlan) => plan.wal.map((w) => (w.kind === 'segment' ? `${w.timeline}:${Number(w.position)}` : w.name));
const range = (tl: number, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${tl}:${from + i}`);

function rejectsWith(fn: () => unknown, code: string, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isWalshipError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

// Five backups on timeline 1, a day apart, starting at segments 10, 20, ... 50.
const five = (permanent: number[] = []) => [10, 20, 30, 40, 50].map((pos, i) => sentinel({ pos, start: i + 1, permanent: permanent.includes(pos) }));
const wal5to60 = () => [...walRange(1, 5, 60), walKey('00000002.history', '')];

describe('retention planning', () => {
  test('retain N keeps the N newest, deletes the rest and the WAL below the oldest kept start', () => {
    const backups = five();
    const plan = planRetention(inventory(backups, wal5to60()), { kind: 'keep', count: 2 });
    assert.deepEqual(names(plan.keep), names(backups.slice(3)));
    assert.deepEqual(names(plan.remove), names(backups.slice(0, 3)));
    assert.deepEqual(walLabels(plan), range(1, 5, 39));
    assert.deepEqual(plan.walFloor, { segment: seg(1, 40), backup: backups[3]!.name });
    // Sentinels first, then exactly the removed backups' parts and manifests, then WAL.
    assert.deepEqual(plan.steps.map((s) => s.step), ['sentinels', 'backups', 'wal']);
    assert.deepEqual(keysOf(plan, 'sentinels'), backups.slice(0, 3).map((b) => sentinelKey(b.name)));
    assert.deepEqual(
      keysOf(plan, 'backups').sort(),
      backups.slice(0, 3).flatMap((b) => [`basebackups_005/${b.name}/manifest.json.lz4`, `basebackups_005/${b.name}/tar_partitions/part_001.tar.lz4`, `basebackups_005/${b.name}/tar_partitions/part_002.tar.lz4`]).sort(),
    );
    assert.ok(!keysOf(plan, 'wal').some((k) => k.includes('.history')), 'history files are never deleted');

    // More backups kept than exist: nothing but WAL older than every backup goes.
    const all = planRetention(inventory(backups, wal5to60()), { kind: 'keep', count: 9 });
    assert.equal(all.remove.length, 0);
    assert.deepEqual(walLabels(all), range(1, 5, 9));
    rejectsWith(() => planRetention(inventory(backups, []), { kind: 'keep', count: 0 }), 'USAGE', /at least 1/);
  });

  test('permanent backups among old ones are kept, and so is the WAL they need to be consistent', () => {
    const backups = five([20]);
    const plan = planRetention(inventory(backups, wal5to60()), { kind: 'keep', count: 2 });
    assert.deepEqual(names(plan.keep), names([backups[1]!, backups[3]!, backups[4]!]));
    assert.deepEqual(names(plan.remove), names([backups[0]!, backups[2]!]));
    // The permanent backup started at 20 and stopped at 21: point-in-time recovery is kept from the oldest regular backup (40) on.
    assert.deepEqual(walLabels(plan), [...range(1, 5, 19), ...range(1, 22, 39)], 'only its own WAL stays below the floor');
    assert.ok(plan.notes.some((n) => n.includes(`${seg(1, 20)} to ${seg(1, 21)} is kept for permanent backup ${backups[1]!.name}`)), plan.notes.join('\n'));
    // Only permanent backups left: recovery to now is kept from the newest of them.
    const onlyPermanent = five([20, 30]).slice(0, 3);
    const kept = planRetention(inventory(onlyPermanent, wal5to60()), { kind: 'keep', count: 1 });
    assert.deepEqual(names(kept.keep), names(onlyPermanent.slice(1)));
    assert.deepEqual(walLabels(kept), [...range(1, 5, 19), ...range(1, 22, 29)]);
    for (const rule of [{ kind: 'before', name: backups[4]!.name }, { kind: 'keep', windowMs: DAY }, { kind: 'garbage' }] as const) {
      assert.ok(names(planRetention(inventory(backups, wal5to60()), rule).keep).includes(backups[1]!.name), rule.kind);
    }
  });

  test('a timeline switch: backups are chosen by time and WAL by position, on every timeline', () => {
    // A and B on timeline 1; the cluster was promoted to timeline 2 at segment 29; C started on timeline 2 at 30.
    const A = sentinel({ pos: 10, start: 1 });
    const B = sentinel({ pos: 50, start: 2 });
    const C = sentinel({ timeline: 2, pos: 30, start: 3 });
    const wal = [
      ...walRange(1, 5, 60),
      walKey(`${seg(1, 29)}.partial`),
      walKey(`${seg(1, 10)}.00000028.backup`),
      walKey('00000002.history', ''),
      ...walRange(2, 28, 40, '.zst'),
      walKey('not-a-wal-file'),
    ];
    // Handed over in name order, which is not time order.
    const plan = planRetention({ ...inventory([], wal), backups: [A, B, C].sort((x, y) => x.name.localeCompare(y.name)), backupObjects: [] }, { kind: 'keep', count: 1 });
    assert.deepEqual(names(plan.keep), [C.name], 'the newest by start time, though B has the higher position');
    assert.deepEqual(names(plan.remove), [A.name, B.name]);
    const deleted = walLabels(plan);
    const expected = [...range(1, 5, 29), ...range(2, 28, 29), `${seg(1, 10)}.00000028.backup`, `${seg(1, 29)}.partial`];
    assert.deepEqual([...deleted].sort(), expected.sort());
    assert.ok(plan.wal.every((w) => w.position! < 30n), 'nothing at or after position 30 on any timeline');
    // Oldest first by position: the report's first..last range is by position.
    assert.equal(plan.wal[0]!.name, seg(1, 5));
    assert.equal(plan.wal.at(-1)!.name, seg(2, 29));

    // wal-g#636: a backup whose name sorts last is not the newest when it is older.
    const older = sentinel({ pos: 80, start: 1 });
    const newer = sentinel({ pos: 20, start: 2 });
    assert.deepEqual(names(planRetention(inventory([older, newer], []), { kind: 'keep', count: 1 }).keep), [newer.name]);
  });

  test('window: backups that finished within it, plus the newest that finished before it', () => {
    // Finished on days 1, 3, 5, 8 and 9.5; now is day 10.
    const backups = [
      sentinel({ pos: 10, start: 0.9, finish: 1 }),
      sentinel({ pos: 20, start: 2.9, finish: 3 }),
      sentinel({ pos: 30, start: 4.9, finish: 5 }),
      sentinel({ pos: 40, start: 6.5, finish: 8 }), // started before the window, finished inside it
      sentinel({ pos: 50, start: 9.4, finish: 9.5 }),
    ];
    const inv = inventory(backups, wal5to60(), { now: at(10) });
    const plan = planRetention(inv, { kind: 'keep', windowMs: 3 * DAY });
    assert.deepEqual(names(plan.keep), names(backups.slice(2)));
    assert.deepEqual(walLabels(plan), range(1, 5, 29));
    // A window shorter than the time since the last backup keeps the last one only.
    assert.deepEqual(names(planRetention(inv, { kind: 'keep', windowMs: 0.25 * DAY }).keep), [backups[4]!.name]);
    // Both rules: kept if either keeps it.
    assert.deepEqual(names(planRetention(inv, { kind: 'keep', count: 2, windowMs: 3 * DAY }).keep), names(backups.slice(2)));
    assert.deepEqual(names(planRetention(inv, { kind: 'keep', count: 4, windowMs: 0.25 * DAY }).keep), names(backups.slice(1)));

    assert.deepEqual(automaticRule({ full: 7 }), { kind: 'keep', count: 7 });
    assert.deepEqual(automaticRule({ full: 0, windowMs: DAY }), { kind: 'keep', windowMs: DAY });
    assert.deepEqual(automaticRule({ full: 3, windowMs: DAY }), { kind: 'keep', count: 3, windowMs: DAY });
    assert.equal(automaticRule({ full: 0 }), undefined);
  });

  test('before a backup (kept) or a time', () => {
    const backups = five([10]);
    const byName = planRetention(inventory(backups, wal5to60()), { kind: 'before', name: backups[3]!.name });
    assert.deepEqual(names(byName.remove), names(backups.slice(1, 3)));
    assert.deepEqual(names(byName.keep), names([backups[0]!, ...backups.slice(3)]), 'the permanent one and the named one stay');
    assert.deepEqual(walLabels(byName), [...range(1, 5, 9), ...range(1, 12, 39)], 'below the named backup, all but the permanent one\'s own WAL');

    const byTime = planRetention(inventory(five(), wal5to60()), { kind: 'before', time: at(3.5) });
    assert.deepEqual(names(byTime.remove), names(five().slice(0, 3)));
    assert.deepEqual(walLabels(byTime), range(1, 5, 39));

    rejectsWith(() => planRetention(inventory(backups, []), { kind: 'before', name: 'base_nope' }), 'STORE_NOT_FOUND', /no complete backup named base_nope; backups: base_/);
    rejectsWith(() => planRetention(inventory(five(), []), { kind: 'before', time: at(20) }), 'DELETE_REFUSED', /would delete every backup/);
  });

  test('garbage: interrupted backups and WAL older than every backup; a recent unfinished backup is left alone', () => {
    const backups = [sentinel({ pos: 20, start: 1 }), sentinel({ pos: 30, start: 2 })];
    const interrupted = `base_${seg(1, 12)}`;
    const running = `base_${seg(1, 40)}`;
    const now = at(3);
    const extra = [...unfinishedObjects(interrupted, at(1.5)), ...unfinishedObjects(running, new Date(now.getTime() - 10 * 60_000))];
    const plan = planRetention(inventory(backups, wal5to60(), { now, extra }), { kind: 'garbage' });
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(names(plan.keep), names(backups));
    assert.deepEqual(names(plan.unfinished), [interrupted]);
    assert.deepEqual(names(plan.inProgress), [running]);
    assert.deepEqual(keysOf(plan, 'backups'), [`basebackups_005/${interrupted}/tar_partitions/part_001.tar.lz4`, `basebackups_005/${interrupted}/tar_partitions/part_002.tar.lz4`]);
    assert.deepEqual(keysOf(plan, 'sentinels'), []);
    assert.deepEqual(walLabels(plan), range(1, 5, 19));
    const report = describePlan(plan, false).join('\n');
    assert.match(report, new RegExp(`skipped ${running}: .*may be a backup in progress`));
    assert.match(report, /would delete 1 unfinished backup \(2 objects, no sentinel\):/);

    // No complete backup at all: unfinished ones go, WAL stays.
    const none = planRetention(inventory([], wal5to60(), { now, extra }), { kind: 'garbage' });
    assert.deepEqual(names(none.unfinished), [interrupted]);
    assert.deepEqual(none.wal, []);
    assert.match(none.notes.join('\n'), /no backup is kept, so no WAL is deleted/);
  });

  test('a backup in progress keeps the WAL it started at, whatever the rule', () => {
    // A long backup started at 15 is still running while backups at 20 and 30 completed.
    const backups = [sentinel({ pos: 20, start: 1 }), sentinel({ pos: 30, start: 2 })];
    const running = `base_${seg(1, 15)}`;
    const now = at(2.5);
    const plan = planRetention(inventory(backups, wal5to60(), { now, extra: unfinishedObjects(running, new Date(now.getTime() - 60_000)) }), { kind: 'keep', count: 1 });
    assert.deepEqual(names(plan.remove), [backups[0]!.name]);
    assert.deepEqual(plan.unfinished, [], 'retain never deletes unfinished backups');
    assert.deepEqual(walLabels(plan), range(1, 5, 14));
    assert.match(plan.notes.join('\n'), new RegExp(`kept for ${running}, which may be a backup in progress`));
  });

  test('everything: refused while a backup is permanent, unless FORCE; then every backup object, all WAL and the cluster identity', () => {
    const backups = five([30]);
    const extra = unfinishedObjects(`base_${seg(1, 60)}`, at(29.9));
    const wal = [...wal5to60(), walKey('00000002.history', '.lz4'), walKey('stray-object', '')];
    rejectsWith(() => planRetention(inventory(backups, wal, { extra, identity: true }), { kind: 'everything', force: false }), 'DELETE_REFUSED', new RegExp(`${backups[2]!.name} is permanent.*FORCE`));

    const plan = planRetention(inventory(backups, wal, { extra, identity: true }), { kind: 'everything', force: true });
    assert.deepEqual(plan.keep, []);
    assert.deepEqual(names(plan.remove), names(backups));
    assert.deepEqual(plan.steps.map((s) => s.step), ['sentinels', 'backups', 'wal', 'other']);
    assert.deepEqual(keysOf(plan, 'sentinels').sort(), backups.map((b) => sentinelKey(b.name)).sort());
    assert.equal(keysOf(plan, 'backups').length, 5 * 3 + 2);
    assert.equal(plan.wal.length, 56 + 2, 'every segment and the history files');
    assert.deepEqual(keysOf(plan, 'other'), ['wal_005/stray-object', 'walship/cluster.json'], 'the identity last');
    const report = describePlan(plan, true).join('\n');
    assert.match(report, new RegExp(`deleted 58 WAL files: ${seg(1, 5)} \\.\\. ${seg(1, 60)}, and 2 history files`));
    assert.match(report, /may be a backup in progress: it goes too/);

    const plain = planRetention(inventory(five(), wal), { kind: 'everything', force: false });
    assert.equal(plain.remove.length, 5);
  });

  test('the dry-run report names backups and gives WAL as a count and a range', () => {
    const plan = planRetention(inventory(five(), wal5to60()), { kind: 'keep', count: 2 });
    const lines = describePlan(plan, false);
    assert.equal(lines[0], 'dry run: nothing is deleted; run again with --confirm to delete');
    const text = lines.join('\n');
    for (const b of five().slice(0, 3)) assert.match(text, new RegExp(`^  ${b.name}  started `, 'm'));
    assert.match(text, new RegExp(`^would delete 35 WAL files: ${seg(1, 5)} \\.\\. ${seg(1, 39)}$`, 'm'));
    assert.match(text, /^keeping 2 backups:$/m);
    assert.match(describePlan(planRetention(inventory([], []), { kind: 'garbage' }), true).join('\n'), /nothing was deleted/);
  });
});
