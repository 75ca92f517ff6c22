import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoCluster } from './cluster.ts';

// The data the demo writes and checks: pgbench's tables, and demo_events,
// timestamped rows tagged with when they were written relative to the
// recovery target. At the target nothing else runs, so the state there is
// known exactly: the events written before it, pgbench's balance sum and
// history rows.

export const BEFORE_BACKUP = 'before the backup';
export const BEFORE_TARGET = 'before the target';
export const AFTER_TARGET = 'after the target';

export interface TargetState {
  /** recovery_target_time, with its zone: '2026-11-21 13:45:00.123456+00'. */
  time: string;
  /** demo_events rows by phase. */
  events: Record<string, number>;
  balanceSum: string;
  historyRows: number;
}

export async function createEvents(cluster: DemoCluster): Promise<void> {
  await cluster.query(`create table demo_events (id bigserial primary key, at timestamptz not null default clock_timestamp(), phase text not null)`);
}

export async function addEvents(cluster: DemoCluster, phase: string, n: number): Promise<void> {
  // One transaction each: every event is its own commit in the WAL.
  for (let i = 0; i < n; i++) await cluster.query('insert into demo_events (phase) values ($1)', [phase]);
}

async function eventsByPhase(cluster: DemoCluster): Promise<Record<string, number>> {
  const rows = await cluster.query<{ phase: string; n: string }>('select phase, count(*)::text as n from demo_events group by phase');
  return Object.fromEntries(rows.map((r) => [r.phase, Number(r.n)]));
}

/** The state of the cluster now, and the time, taken between two commits. */
export async function markTarget(cluster: DemoCluster): Promise<TargetState> {
  const row = await cluster.one<{ time: string; sum: string; history: string }>(
    `select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US"+00"') as time,
            (select sum(abalance)::text from pgbench_accounts) as sum,
            (select count(*)::text from pgbench_history) as history`,
  );
  // The next commit must be strictly later than the target.
  await sleep(20);
  return { time: row.time, events: await eventsByPhase(cluster), balanceSum: row.sum, historyRows: Number(row.history) };
}

/** Changes after the target, which a recovery to the target must not bring back. */
export async function changeAfterTarget(cluster: DemoCluster, events: number): Promise<void> {
  await addEvents(cluster, AFTER_TARGET, events);
  await cluster.query('update pgbench_accounts set abalance = abalance + 1 where aid <= 1000');
  await cluster.query("insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 1, now())");
}

export async function currentState(cluster: DemoCluster): Promise<Omit<TargetState, 'time'>> {
  const row = await cluster.one<{ sum: string; history: string }>(
    'select (select sum(abalance)::text from pgbench_accounts) as sum, (select count(*)::text from pgbench_history) as history',
  );
  return { events: await eventsByPhase(cluster), balanceSum: row.sum, historyRows: Number(row.history) };
}

export interface Comparison {
  matched: boolean;
  lines: string[];
}

/** What the restored cluster holds against what the primary held at the target. */
export function compare(expected: TargetState, restored: Omit<TargetState, 'time'>, afterTarget: number): Comparison {
  const lines: string[] = [];
  let matched = true;
  const check = (ok: boolean, text: string) => {
    matched &&= ok;
    lines.push(`${ok ? 'ok  ' : 'BAD '} ${text}`);
  };
  const before = (expected.events[BEFORE_BACKUP] ?? 0) + (expected.events[BEFORE_TARGET] ?? 0);
  const restoredBefore = (restored.events[BEFORE_BACKUP] ?? 0) + (restored.events[BEFORE_TARGET] ?? 0);
  check(restoredBefore === before, `events written before the target: ${restoredBefore} of ${before} present`);
  const after = restored.events[AFTER_TARGET] ?? 0;
  check(after === 0, `events written after the target: ${after} of ${afterTarget} present`);
  check(restored.balanceSum === expected.balanceSum, `pgbench balance sum: ${restored.balanceSum}, at the target ${expected.balanceSum}`);
  check(restored.historyRows === expected.historyRows, `pgbench_history rows: ${restored.historyRows}, at the target ${expected.historyRows}`);
  return { matched, lines };
}
