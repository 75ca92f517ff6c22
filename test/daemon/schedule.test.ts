import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { acquireBackupLock, LOCK_KEY } from '../../agent/backup/lock.ts';
import type { Clock } from '../../agent/daemon/clock.ts';
import { Scheduler, parseSchedule } from '../../agent/daemon/schedule.ts';
import { isWalshipError } from '../../agent/errors.ts';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';

/** Virtual time: sleeping moves the clock forward at once. */
function fakeClock(start: string): Clock & { advance(ms: number): void } {
  let now = Date.parse(start);
  return {
    now: () => new Date(now),
    advance: (ms) => (now += ms),
    async sleep(ms, signal) {
      if (signal?.aborted) throw new Error('aborted');
      await new Promise((r) => setImmediate(r));
      now += ms;
    },
  };
}

async function runUntil(clock: ReturnType<typeof fakeClock>, cron: string, runs: number, workMs = 0): Promise<string[]> {
  const times: string[] = [];
  let scheduler!: Scheduler;
  await new Promise<void>((resolve) => {
    scheduler = new Scheduler({
      cron: parseSchedule(cron),
      clock,
      run: async () => {
        times.push(clock.now().toISOString());
        clock.advance(workMs);
        if (times.length === runs) resolve();
      },
    });
    scheduler.start();
  });
  await scheduler.stop();
  return times;
}

describe('backup schedule', () => {
  test('5-field cron fires at each matching minute, in UTC', async () => {
    const times = await runUntil(fakeClock('2026-11-21T00:00:30Z'), '*/10 * * * *', 3);
    assert.deepEqual(times, ['2026-11-21T00:10:00.000Z', '2026-11-21T00:20:00.000Z', '2026-11-21T00:30:00.000Z']);
  });

  test('6-field cron has seconds first', async () => {
    const times = await runUntil(fakeClock('2026-11-21T00:00:00Z'), '15,45 * * * * *', 3);
    assert.deepEqual(times, ['2026-11-21T00:00:15.000Z', '2026-11-21T00:00:45.000Z', '2026-11-21T00:01:15.000Z']);
  });

  test('a daily schedule fires once a day', async () => {
    const times = await runUntil(fakeClock('2026-11-21T05:00:00Z'), '0 1 * * *', 2);
    assert.deepEqual(times, ['2026-11-22T01:00:00.000Z', '2026-11-23T01:00:00.000Z']);
  });

  test('a run longer than the interval skips the times it missed instead of piling up', async () => {
    const times = await runUntil(fakeClock('2026-11-21T00:00:00Z'), '*/10 * * * *', 3, 25 * 60_000);
    assert.deepEqual(times, ['2026-11-21T00:10:00.000Z', '2026-11-21T00:40:00.000Z', '2026-11-21T01:10:00.000Z']);
  });

  test('a bad expression is a clear configuration error', () => {
    assert.throws(() => parseSchedule('61 * * * *'), (e: unknown) => isWalshipError(e, 'CONFIG_INVALID') && /backup schedule "61 \* \* \* \*"/.test(e.message));
    assert.throws(() => parseSchedule('0 25 * * *', 'WALSHIP_DRILL_SCHEDULE'), (e: unknown) => isWalshipError(e, 'CONFIG_INVALID') && /^WALSHIP_DRILL_SCHEDULE "0 25 \* \* \*"/.test(e.message));
  });
});

describe('backup lock (in the store)', () => {
  test('one holder at a time; released, stale and dead-local locks can be taken', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-lock-'));
    try {
      const store = await openStore({ kind: 'fs', root }, testTransfer);
      const first = await acquireBackupLock(store);
      await assert.rejects(acquireBackupLock(store), (e: unknown) => isWalshipError(e, 'BACKUP_LOCKED') && /another backup is running: .* pid \d+ since/.test(e.message));
      await first.release();
      assert.equal(await store.stat(LOCK_KEY), undefined, 'released');

      // A lock whose holder stopped renewing it, on another host, is taken over after its TTL.
      let now = Date.parse('2026-11-21T00:00:00Z');
      const stale = await acquireBackupLock(store, 60_000, () => new Date(now));
      const { body } = await store.get(LOCK_KEY);
      const record = JSON.parse(Buffer.concat(await body.toArray()).toString()) as Record<string, unknown>;
      const { Readable } = await import('node:stream');
      const foreign = Buffer.from(JSON.stringify({ ...record, host: 'another-pod', id: 'x' }));
      await store.put(LOCK_KEY, () => Readable.from([foreign]));
      await assert.rejects(acquireBackupLock(store, 60_000, () => new Date(now)), (e: unknown) => isWalshipError(e, 'BACKUP_LOCKED'));
      now += 61_000;
      const taken = await acquireBackupLock(store, 60_000, () => new Date(now));
      await taken.release();
      await stale.release();

      // A holder on this host whose process is gone need not be waited out.
      const dead = Buffer.from(JSON.stringify({ ...record, id: 'y', pid: 2 ** 22 + 12345, expiresAt: '2999-01-01T00:00:00Z' }));
      await store.put(LOCK_KEY, () => Readable.from([dead]));
      const again = await acquireBackupLock(store);
      await again.release();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
