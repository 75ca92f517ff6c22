import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseWalFileName } from '../../agent/wal/names.ts';
import { chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { sampleSum, type MetricFamily } from '../support/prom-parse.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';
import { scrapeMetrics, startPod, waitUntil, type Pod } from './harness.ts';

// /metrics of a running agent that a real cluster archives through: valid
// Prometheus text, every family walship documents, and numbers that move
// as archiving and restoring happen.

const run = promisify(execFile);

/** Families docs/metrics.md promises, with their types, one or more per area. */
const EXPECTED: Record<string, MetricFamily['type']> = {
  // archiving
  walship_wal_archived_segments_total: 'counter',
  walship_wal_archived_bytes_total: 'counter',
  walship_wal_archive_failures_total: 'counter',
  walship_wal_last_archived_timestamp_seconds: 'gauge',
  walship_wal_seconds_since_last_archive: 'gauge',
  walship_wal_ready_segments: 'gauge',
  walship_wal_push_duration_seconds: 'histogram',
  walship_wal_newest_archived_lsn_bytes: 'gauge',
  // restore and prefetch
  walship_wal_fetch_duration_seconds: 'histogram',
  walship_wal_prefetch_hits_total: 'counter',
  walship_wal_prefetch_misses_total: 'counter',
  // backups
  walship_backup_last_success_timestamp_seconds: 'gauge',
  walship_backup_last_duration_seconds: 'gauge',
  walship_backup_failures_total: 'counter',
  walship_backups: 'gauge',
  walship_recovery_first_point_timestamp_seconds: 'gauge',
  // storage
  walship_storage_operation_duration_seconds: 'histogram',
  walship_storage_operation_errors_total: 'counter',
  walship_store_up: 'gauge',
  walship_postgres_up: 'gauge',
  // process
  walship_process_cpu_seconds_total: 'counter',
  walship_process_resident_memory_bytes: 'gauge',
  walship_process_start_time_seconds: 'gauge',
  walship_nodejs_heap_size_used_bytes: 'gauge',
};

const value = (f: Map<string, MetricFamily>, name: string, where?: Record<string, string>) => sampleSum(f, name, name, where);
const histogramCount = (f: Map<string, MetricFamily>, name: string, where?: Record<string, string>) => sampleSum(f, name, `${name}_count`, where);

describe('/metrics of a running agent', () => {
  let pod: Pod | undefined;
  let store = '';
  after(async () => {
    await pod?.destroy();
    if (store) await rm(store, { recursive: true, force: true });
  });

  test('is valid Prometheus text with every walship family, and its numbers move with archiving and restoring', { timeout: 120_000 }, async () => {
    store = await postgresOwnedDir('walship-metrics-store-');
    pod = await startPod({ WALG_FILE_PREFIX: store }, { agentEnv: { WALSHIP_HEALTH_INTERVAL: '200ms' } });
    const { cluster, agent } = pod;
    await cluster.query('create table t (id serial primary key, v text)');
    await waitArchived(cluster, await switchWal(cluster));

    const before = await scrapeMetrics(agent);
    for (const [name, type] of Object.entries(EXPECTED)) {
      assert.ok(before.has(name), `/metrics has ${name}`);
      assert.equal(before.get(name)!.type, type, `${name} is a ${type}`);
      assert.ok(before.get(name)!.help, `${name} has HELP text`);
    }
    for (const name of before.keys()) assert.match(name, /^walship_/, 'every family carries the walship_ prefix');
    await waitUntil('the store and PostgreSQL checks to pass', async () => {
      const m = await scrapeMetrics(agent);
      return value(m, 'walship_store_up') === 1 && value(m, 'walship_postgres_up') === 1;
    });
    assert.ok(value(before, 'walship_wal_archived_segments_total') >= 1);
    assert.ok(value(before, 'walship_process_resident_memory_bytes') > 10 * 1024 * 1024);

    // Archiving: three more segments through archive_command.
    let last = '';
    for (let i = 0; i < 3; i++) {
      await cluster.query("insert into t (v) select md5(g::text) from generate_series(1, 1000) g");
      last = await switchWal(cluster);
    }
    await waitArchived(cluster, last);
    const archived = await scrapeMetrics(agent);
    assert.ok(value(archived, 'walship_wal_archived_segments_total') >= value(before, 'walship_wal_archived_segments_total') + 3, 'three more segments counted');
    assert.ok(value(archived, 'walship_wal_archived_bytes_total') >= value(before, 'walship_wal_archived_bytes_total') + 3 * 16 * 1024 * 1024);
    assert.ok(histogramCount(archived, 'walship_wal_push_duration_seconds') >= histogramCount(before, 'walship_wal_push_duration_seconds') + 3, 'each archive_command request timed');
    assert.ok(
      histogramCount(archived, 'walship_storage_operation_duration_seconds') > histogramCount(before, 'walship_storage_operation_duration_seconds'),
      'store calls counted in the storage histogram',
    );
    const lastNo = parseWalFileName(last).segNo!;
    assert.equal(BigInt(value(archived, 'walship_wal_newest_archived_lsn_bytes')), (lastNo + 1n) * 16n * 1024n * 1024n, 'the newest archived position is the end of the last segment');
    assert.ok(value(archived, 'walship_wal_last_archived_timestamp_seconds') * 1000 > Date.now() - 60_000);
    assert.equal(value(archived, 'walship_wal_archive_failures_total'), 0);

    // Restoring: restore_command through the sh client, into a directory inside PGDATA.
    const fetched = join(cluster.dataDir, 'walship-test-fetch');
    await mkdir(fetched);
    await chownToPostgres(fetched);
    const segments = [...Array(3).keys()].map((i) => {
      const no = parseInt(last.slice(16), 16) - 2 + i;
      return `${last.slice(0, 16)}${no.toString(16).toUpperCase().padStart(8, '0')}`;
    });
    const fetch = (name: string) => run('runuser', ['-u', 'postgres', '--', pod!.shared.client, 'wal-fetch', name, join(fetched, name)]);
    await fetch(segments[0]!);
    const afterMiss = await scrapeMetrics(agent);
    assert.equal(value(afterMiss, 'walship_wal_prefetch_misses_total'), value(archived, 'walship_wal_prefetch_misses_total') + 1, 'the first segment was not prefetched');
    assert.equal(histogramCount(afterMiss, 'walship_wal_fetch_duration_seconds', { outcome: 'fetched' }), 1);
    // The agent fetched the next segments ahead: the next request is served from them.
    await waitUntil('the next segment to be prefetched', async () => {
      return (await readdir(join(fetched, '.walship-prefetch')).catch(() => [] as string[])).includes(segments[1]!);
    });
    await fetch(segments[1]!);
    const afterHit = await scrapeMetrics(agent);
    assert.equal(value(afterHit, 'walship_wal_prefetch_hits_total'), value(afterMiss, 'walship_wal_prefetch_hits_total') + 1, 'the second segment came from the prefetch directory');
    assert.equal(histogramCount(afterHit, 'walship_wal_fetch_duration_seconds', { outcome: 'fetched' }), 2);
    // Not in the archive: exit 74, counted by outcome.
    await assert.rejects(fetch('0000000100000000000000FE'), (err: { code?: number }) => err.code === 74);
    const afterNotFound = await scrapeMetrics(agent);
    assert.equal(histogramCount(afterNotFound, 'walship_wal_fetch_duration_seconds', { outcome: 'not-found' }), 1);
    await rm(fetched, { recursive: true, force: true });
  });
});
