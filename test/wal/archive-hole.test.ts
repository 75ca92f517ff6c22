import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../agent/config/load.ts';
import { isWalshipError } from '../../agent/errors.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { createDriver } from '../../agent/storage/open.ts';
import { withResilience } from '../../agent/storage/resilient.ts';
import { openWalArchive } from '../../agent/wal/archive.ts';
import { fetchWalFile } from '../../agent/wal/fetch.ts';
import { pushWalFile, type WalArchive } from '../../agent/wal/push.ts';
import { parseTimelineHistory } from '../../agent/wal/timeline-history.ts';
import { runWalship } from '../support/cli.ts';
import { writeSegment } from '../support/wal-segments.ts';
import { testTransfer } from '../storage/contract.ts';

// What wal-fetch answers for a missing segment, decided from what the
// archive holds after it, on a real filesystem store with synthetic
// segments: the timelines and holes are laid out by hand. PostgreSQL's own
// recoveries over a hole are in test/wal/hole-recovery.test.ts.

const tl = (t: number, seg: number) => `${t.toString(16).toUpperCase().padStart(8, '0')}00000000${seg.toString(16).toUpperCase().padStart(8, '0')}`;

/** The real fs driver, counting each call by name. */
function counting(inner: StorageDriver): { driver: StorageDriver; calls: string[] } {
  const calls: string[] = [];
  const count = <A extends unknown[], R>(op: string, f: (...a: A) => R) => (...a: A): R => (calls.push(op), f(...a));
  return {
    calls,
    driver: {
      kind: inner.kind,
      location: inner.location,
      put: count('put', inner.put.bind(inner)),
      putIfAbsent: count('putIfAbsent', inner.putIfAbsent.bind(inner)),
      get: count('get', inner.get.bind(inner)),
      stat: count('stat', inner.stat.bind(inner)),
      listPage: count('list', inner.listPage.bind(inner)),
      deleteMany: count('delete', inner.deleteMany.bind(inner)),
      close: () => inner.close(),
    },
  };
}

describe('wal-fetch tells a hole in the archive from its end', () => {
  let dir: string;
  let pgWal: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-hole-'));
    pgWal = join(dir, 'pg_wal');
    await mkdir(pgWal);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A fresh store holding these WAL files, all stored a minute ago (older than a race between uploads). */
  async function storeWith(name: string, files: readonly string[], history: Record<string, string> = {}) {
    const root = join(dir, name);
    await mkdir(root, { recursive: true });
    const { config } = await loadConfig({ env: { WALG_FILE_PREFIX: root } });
    const counted = counting(await createDriver(config.store!, testTransfer));
    const archive = await openWalArchive(config, withResilience(counted.driver, testTransfer));
    const local = join(pgWal, name);
    await mkdir(local);
    for (const f of files) await pushWalFile(archive, await writeSegment(local, { name: f }));
    for (const [f, text] of Object.entries(history)) {
      await writeFile(join(local, f), text);
      await pushWalFile(archive, join(local, f));
    }
    const minuteAgo = new Date(Date.now() - 60_000);
    for (const f of await readdir(join(root, 'wal_005'))) await utimes(join(root, 'wal_005', f), minuteAgo, minuteAgo);
    counted.calls.length = 0;
    return { root, archive, calls: counted.calls, env: { WALG_FILE_PREFIX: root } };
  }

  const dest = () => join(dir, `dest-${Math.random().toString(16).slice(2)}`);

  async function assertHole(archive: WalArchive, missing: string, next: string) {
    const to = dest();
    await assert.rejects(fetchWalFile(archive, missing, to), (e: unknown) => {
      assert.ok(isWalshipError(e, 'WAL_ARCHIVE_HOLE'), String(e));
      assert.equal(e.exitCode, 126);
      assert.ok(e.message.includes(`${missing} is not in the archive, but ${next}`), e.message);
      return true;
    });
    await assert.rejects(stat(to), 'nothing written');
  }

  async function assertEnd(archive: WalArchive, name: string) {
    const to = dest();
    assert.deepEqual(await fetchWalFile(archive, name, to), { outcome: 'not-found' });
    await assert.rejects(stat(to));
  }

  test('the end of the archive costs one get and one listing, as few round trips as before and fewer calls', async () => {
    const { archive, calls } = await storeWith('end', [tl(1, 1), tl(1, 2), tl(1, 3)]);
    await assertEnd(archive, tl(1, 4));
    // Before: a get, then a stat of each of the five possible keys at once (two round trips, six calls).
    assert.deepEqual(calls, ['get', 'list']);
    calls.length = 0;
    // A name found under another compression is fetched from that same listing.
    const to = dest();
    const zstd = await openWalArchive((await loadConfig({ env: { WALG_FILE_PREFIX: join(dir, 'end'), WALG_COMPRESSION_METHOD: 'zstd' } })).config, archive.store);
    assert.equal((await fetchWalFile(zstd, tl(1, 2), to)).outcome, 'fetched');
    assert.deepEqual(calls, ['get', 'list', 'get']);
  });

  test('a missing segment with later ones on its timeline is a hole, named with the first one after it', async () => {
    const { archive, calls, env } = await storeWith('hole', [tl(1, 1), tl(1, 2), tl(1, 5), tl(1, 6)]);
    await assertHole(archive, tl(1, 3), tl(1, 5));
    await assertHole(archive, tl(1, 4), tl(1, 5));
    calls.length = 0;
    await assertEnd(archive, tl(1, 7));
    assert.deepEqual(calls, ['get', 'list']);

    const r = await runWalship(['wal-fetch', tl(1, 3), dest()], env);
    assert.equal(r.code, 126, r.stderr);
    assert.match(r.stderr, new RegExp(`^walship: WAL_ARCHIVE_HOLE: ${tl(1, 3)} is not in the archive, but ${tl(1, 5)} of the same timeline is: a hole in the archive, not its end\\..*WALSHIP_FETCH_HOLE=end`));

    // Accepting the loss: "not found", said aloud.
    const end = await runWalship(['wal-fetch', tl(1, 3), dest()], { ...env, WALSHIP_FETCH_HOLE: 'end' });
    assert.equal(end.code, 74, end.stderr);
    assert.match(end.stderr, new RegExp(`^walship: warning: WAL_ARCHIVE_HOLE: ${tl(1, 3)} is not in the archive, but ${tl(1, 5)}.*WALSHIP_FETCH_HOLE=end: recovery ends at the hole`));
    assert.deepEqual(await fetchWalFile(archive, tl(1, 3), dest(), { holes: 'end' }).then((x) => [x.outcome, x.outcome === 'not-found' ? x.hole?.next : undefined]), ['not-found', tl(1, 5)]);

    // A standby keeps asking and never promotes by itself: "not found", with the warning.
    const pgdata = join(dir, 'standby-data');
    await mkdir(join(pgdata, 'pg_wal'), { recursive: true });
    await writeFile(join(pgdata, 'standby.signal'), '');
    const standby = await runWalship(['wal-fetch', tl(1, 3), join(pgdata, 'pg_wal', 'RECOVERYXLOG')], env);
    assert.equal(standby.code, 74, standby.stderr);
    assert.match(standby.stderr, /WAL_ARCHIVE_HOLE: .*a standby asks again and does not promote by itself/);
    assert.deepEqual(await readdir(join(pgdata, 'pg_wal')), []);
  });

  test('a timeline switch: the old timeline ends at its .partial segment, the new one goes on', async () => {
    // Promoted at 0/3000100: timeline 1 has segments 1-2 and 3.partial, timeline 2 begins in segment 3.
    const { archive, calls } = await storeWith('switch', [tl(1, 1), tl(1, 2), `${tl(1, 3)}.partial`, tl(2, 3), tl(2, 4)], {
      '00000002.history': '1\t0/3000100\tno recovery target specified\n',
    });
    await assertEnd(archive, tl(1, 3));
    await assertEnd(archive, tl(1, 4));
    await assertEnd(archive, tl(2, 5));
    await assertEnd(archive, '00000003.history');
    // PostgreSQL probes newer timelines that do not exist.
    await assertEnd(archive, tl(3, 4));
    calls.length = 0;
    await assertEnd(archive, tl(2, 5));
    assert.deepEqual(calls, ['get', 'list']);
    const to = dest();
    assert.equal((await fetchWalFile(archive, '00000002.history', to)).outcome, 'fetched');
    await assertHole(archive, tl(1, 0), tl(1, 1));
  });

  test("a later timeline's history that puts the old timeline's end after the missing segment makes it a hole", async () => {
    // Timeline 1 went on to segment 5 before the switch, but only 1-2 are archived.
    const { archive } = await storeWith('history-hole', [tl(1, 1), tl(1, 2), tl(2, 5), tl(2, 6)], { '00000002.history': '1\t0/5000000\tno recovery target specified\n' });
    const to = dest();
    await assert.rejects(fetchWalFile(archive, tl(1, 3), to), (e: unknown) => {
      assert.ok(isWalshipError(e, 'WAL_ARCHIVE_HOLE'), String(e));
      assert.ok(e.message.includes(`${tl(1, 3)} is not in the archive, but 00000002.history says timeline 1 went on to ${tl(1, 5)}`), e.message);
      return true;
    });
    // The switch point's own segment, and after it: timeline 1 ends there.
    await assertEnd(archive, tl(1, 5));
    await assertEnd(archive, tl(1, 6));
  });

  test('segments an old primary kept writing after the switch are an abandoned branch, not a hole', async () => {
    const { archive } = await storeWith('branch', [tl(1, 1), tl(1, 2), tl(1, 3), tl(1, 5), tl(1, 6), tl(2, 3), tl(2, 4)], { '00000002.history': '1\t0/3800000\tno recovery target specified\n' });
    await assertEnd(archive, tl(1, 4));
    // Before the switch, a missing segment is still a hole.
    const { archive: before } = await storeWith('branch-before', [tl(1, 1), tl(1, 3), tl(2, 3)], { '00000002.history': '1\t0/3800000\tno recovery target specified\n' });
    await assertHole(before, tl(1, 2), tl(1, 3));
  });

  test('a segment stored moments ago may have overtaken the missing one: it is looked at again before it counts', async () => {
    const { root, archive } = await storeWith('race', [tl(1, 1), tl(1, 2)]);
    const local = join(pgWal, 'race');
    // Segment 4 arrives first; segment 3's upload lands two seconds later.
    await pushWalFile(archive, await writeSegment(local, { name: tl(1, 4) }));
    const started = Date.now();
    const landing = new Promise((r) => setTimeout(r, 2000)).then(async () => pushWalFile(archive, await writeSegment(local, { name: tl(1, 3) })));
    const to = dest();
    const result = await fetchWalFile(archive, tl(1, 3), to);
    await landing;
    assert.equal(result.outcome, 'fetched');
    assert.ok(Date.now() - started >= 2000);
    assert.ok((await stat(to)).size > 0);
    assert.ok((await readdir(join(root, 'wal_005'))).length >= 4);
  });

  test('timeline history files are read as PostgreSQL writes them, up to the first malformed line', () => {
    const text = '# a comment\n1\t0/3000100\tno recovery target specified\n\n2\t1/A2000000\tbefore 2026-12-04 12:00:00+00\n3\tnot-an-lsn\tx\n4\t2/0\tx\n';
    assert.deepEqual(parseTimelineHistory(text), [
      { parent: 1, switchLsn: 0x3000100n },
      { parent: 2, switchLsn: 0x1_a200_0000n },
    ]);
    assert.deepEqual(parseTimelineHistory(''), []);
  });

  test('bad values of the new settings are refused, naming the setting', async () => {
    const env = { WALG_FILE_PREFIX: join(dir, 'end') };
    // restore_command: any failure but "not found" is 126, so that recovery stops.
    for (const [name, value] of [['WALSHIP_FETCH_HOLE', 'maybe'], ['WALSHIP_FETCH_TIMEOUT', 'soon']] as const) {
      const r = await runWalship(['wal-fetch', tl(1, 1), dest()], { ...env, [name]: value });
      assert.equal(r.code, 126, r.stderr);
      assert.match(r.stderr, new RegExp(`CONFIG_INVALID: ${name} \\(from environment\\): expected`));
    }
    const segment = await writeSegment(pgWal, { name: tl(1, 9) });
    const r = await runWalship(['wal-push', segment], { ...env, WALSHIP_PUSH_TIMEOUT: '0s' });
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /CONFIG_INVALID: WALSHIP_PUSH_TIMEOUT \(from environment\): expected a duration/);
  });
});
