import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseWalFileName } from '../../agent/wal/names.ts';
import type { PgCluster } from '../../test/support/pg-cluster.ts';

// PostgreSQL-side helpers for WAL benches: settings that make every tool see
// the same WAL, a pgbench load sized in segments, and fine-grained waits for
// archiving and promotion (the test helpers poll every 100 ms with a new
// connection each time, too coarse for timing).

export const SEGMENT_BYTES = 16 * 1024 * 1024;

/**
 * Settings for every cluster of a WAL bench. No checkpoint may fall inside
 * the load (max_wal_size and checkpoint_timeout out of reach), so each
 * tool archives the same WAL: a checkpoint would add full-page images at a
 * moment that depends on timing. The same holds for restartpoints during
 * replay. fsync stays off as in the test clusters: identical for all tools.
 */
export const BENCH_PG_CONF: Record<string, string | number | boolean> = {
  max_wal_size: '64GB',
  checkpoint_timeout: '1h',
  wal_keep_size: 0,
  archive_timeout: 0,
};

/** A connection kept open for polling: a new one per poll would cost a backend fork each time. */
async function connect(cluster: PgCluster): Promise<pg.Client> {
  const client = cluster.client();
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function currentSegment(cluster: PgCluster): Promise<string> {
  const [row] = await cluster.query<{ name: string }>('select pg_walfile_name(pg_current_wal_lsn()) as name');
  return row!.name;
}

/** Switches to a new segment; returns the name of the one just completed. */
export async function switchSegment(cluster: PgCluster): Promise<string> {
  const [row] = await cluster.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
  return row!.name;
}

/** Number of segments from first to last, both included (same timeline). */
export function segmentCount(first: string, last: string): number {
  return Number(parseWalFileName(last).segNo! - parseWalFileName(first).segNo!) + 1;
}

export function isSegmentName(name: string): boolean {
  return /^[0-9A-F]{24}$/.test(name);
}

export interface ArchiverState {
  lastArchived: string | null;
  archivedCount: number;
  failedCount: number;
  lastFailed: string | null;
}

/** Polls pg_stat_archiver every pollMs until it reports `segment` (or a later one) archived; resolves at that moment. */
export async function waitArchivedThrough(cluster: PgCluster, segment: string, timeoutMs: number, pollMs = 20): Promise<ArchiverState> {
  const client = await connect(cluster);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ last_archived_wal: string | null; archived_count: string; failed_count: string; last_failed_wal: string | null }>(
        'select last_archived_wal, archived_count::text, failed_count::text, last_failed_wal from pg_stat_archiver',
      );
      const row = rows[0]!;
      const state = { lastArchived: row.last_archived_wal, archivedCount: Number(row.archived_count), failedCount: Number(row.failed_count), lastFailed: row.last_failed_wal };
      if (row.last_archived_wal && row.last_archived_wal.slice(0, 24) >= segment) return state;
      if (Date.now() > deadline) {
        throw new Error(`${segment} not archived within ${timeoutMs} ms: ${JSON.stringify(state)}\n${(await cluster.log()).slice(-3000)}`);
      }
      await sleep(pollMs);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Polls until the server answers and pg_is_in_recovery() is false; resolves at that moment. */
export async function waitPromoted(cluster: PgCluster, timeoutMs: number, pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let client: pg.Client | undefined;
  try {
    for (;;) {
      try {
        client ??= await connect(cluster);
        const { rows } = await client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
        if (rows[0]?.r === false) return;
      } catch {
        // Not accepting connections yet (starting up, or not consistent): try again.
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      if (Date.now() > deadline) throw new Error(`not promoted within ${timeoutMs} ms\n${(await cluster.log()).slice(-4000)}`);
      await sleep(pollMs);
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/**
 * pgbench -i writes about 0.75–0.77 segment per scale unit with the
 * settings above (measured: -s 40 wrote 30 segments, -s 280 wrote 216).
 * The scale is chosen to give at least `segments`, with a small margin:
 * real pgbench WAL (COPY, index builds, vacuum), the same for every tool.
 */
export function pgbenchScaleFor(segments: number): number {
  return Math.ceil(segments / 0.74) + 2;
}

/** Runs the load: pgbench -i at the given scale, then (rarely) pgbench write load until `segments` have been written since `first`. */
export async function pgbenchLoad(cluster: PgCluster, scale: number, first: string, segments: number): Promise<{ topUpRounds: number }> {
  await cluster.pgbench(['-i', '-s', String(scale), '-q']);
  let topUpRounds = 0;
  while (segmentCount(first, await currentSegment(cluster)) < segments) {
    await cluster.pgbench(['-n', '-c', '2', '-T', '2']);
    topUpRounds++;
  }
  return { topUpRounds };
}

/**
 * A steady writer instead of a flood: every intervalMs, about one segment of
 * row inserts, then a segment switch, for `segments` rounds. The machine
 * keeps spare CPU, so archive_command's time is the tool's own rather than
 * a queue for the cores. Returns the first and last segment written.
 */
export async function pacedLoad(cluster: PgCluster, segments: number, intervalMs: number): Promise<{ first: string; last: string }> {
  await cluster.query('create table if not exists walship_paced (id int, payload text)');
  const first = await currentSegment(cluster);
  let last = first;
  const start = performance.now();
  for (let i = 0; i < segments; i++) {
    // About 45,000 rows of 200 bytes: 14-16 MB of WAL, a nearly full segment of real row data.
    await cluster.query(`insert into walship_paced select g, repeat(md5(g::text), 6) || '${i}' from generate_series(1, 45000) g`);
    last = await switchSegment(cluster);
    const next = start + (i + 1) * intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  await cluster.query('drop table walship_paced');
  return { first, last };
}
