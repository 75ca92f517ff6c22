import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { writeSentinel } from '../../agent/backup/catalog.ts';
import { sentinelKey } from '../../agent/backup/layout.ts';
import { MANIFEST_FORMAT, type BackupSentinel } from '../../agent/backup/manifest.ts';
import { loadConfig } from '../../agent/config/load.ts';
import { BackupCatalog } from '../../agent/daemon/backup-catalog.ts';
import { WalshipMetrics } from '../../agent/daemon/metrics.ts';
import { createLogger } from '../../agent/log.ts';
import { openStore } from '../../agent/storage/open.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { testTransfer } from '../storage/contract.ts';

// The catalogue metrics against a real filesystem store: what the store
// holds, whoever wrote it, including when backups go; a read asked for
// during another sees what that one may have missed; a failed read keeps
// the last values. (The agent reading it with the schedule off:
// test/agent/catalog-metrics.test.ts.)

/** A complete backup's sentinel as backup-push writes it (only the catalogue's fields matter here). */
function sentinel(name: string, start: string, finish: string): BackupSentinel {
  return {
    formatVersion: MANIFEST_FORMAT,
    name,
    startLsn: '0/2000028',
    stopLsn: '0/2000100',
    startWalFile: '000000010000000000000002',
    stopWalFile: '000000010000000000000002',
    timeline: 1,
    systemIdentifier: '7000000000000000000',
    pgVersion: 150018,
    startTime: start,
    finishTime: finish,
    hostname: 'test',
    pgdata: '/var/lib/postgresql/data',
    fromStandby: false,
    dataBytes: 1,
    storedBytes: 1,
    fileCount: 1,
    permanent: false,
    encoding: { compression: 'lz4', encrypted: false },
    manifestKey: `basebackups_005/${name}/manifest.json.lz4`,
  };
}

async function values(metrics: WalshipMetrics): Promise<{ backups: number; last: number[]; first: number }> {
  const json = await metrics.registry.getMetricsAsJSON();
  const of = (name: string) => (json.find((m) => m.name === name)!.values as { value: number }[]).map((v) => v.value);
  return { backups: of('walship_backups')[0]!, last: of('walship_backup_last_success_timestamp_seconds'), first: of('walship_recovery_first_point_timestamp_seconds')[0]! };
}

const quietLog = () => createLogger('error', new PassThrough());

describe('BackupCatalog', () => {
  const dirs: string[] = [];
  const stores: StorageDriver[] = [];
  after(async () => {
    for (const s of stores) await s.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function fsStore(): Promise<{ root: string; store: StorageDriver }> {
    const root = await mkdtemp(join(tmpdir(), 'walship-catalog-'));
    dirs.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    stores.push(store);
    return { root, store };
  }

  test('sets the metrics from the store: count, newest finish, oldest finish; no last-success series when none is left', async () => {
    const { store } = await fsStore();
    const metrics = new WalshipMetrics();
    const catalog = new BackupCatalog(store, metrics, quietLog());
    assert.deepEqual(await values(metrics), { backups: 0, last: [], first: 0 }, 'nothing before the first read');

    assert.equal((await catalog.refresh()).length, 0);
    assert.deepEqual(await values(metrics), { backups: 0, last: [], first: 0 });

    const older = sentinel('base_000000010000000000000002', '2026-12-01T01:00:00.000Z', '2026-12-01T01:02:30.250Z');
    const newer = sentinel('base_000000010000000000000009', '2026-12-02T01:00:00.000Z', '2026-12-02T01:03:00.500Z');
    await writeSentinel(store, newer);
    await writeSentinel(store, older);
    await catalog.refresh();
    assert.deepEqual(await values(metrics), { backups: 2, last: [Date.parse(newer.finishTime) / 1000], first: Date.parse(older.finishTime) / 1000 });

    // Retention (or `walship delete`, anywhere) removes the older one.
    await store.deleteMany([sentinelKey(older.name)]);
    await catalog.refresh();
    assert.deepEqual(await values(metrics), { backups: 1, last: [Date.parse(newer.finishTime) / 1000], first: Date.parse(newer.finishTime) / 1000 });

    await store.deleteMany([sentinelKey(newer.name)]);
    await catalog.refresh();
    assert.deepEqual(await values(metrics), { backups: 0, last: [], first: 0 }, 'no claim of a backup finished at 1970');
  });

  test('a read asked for while one runs is a new read after it, shared by the callers that wait for it', async () => {
    const { store } = await fsStore();
    const metrics = new WalshipMetrics();
    const catalog = new BackupCatalog(store, metrics, quietLog());
    const during = catalog.refresh();
    await new Promise((r) => setImmediate(r));
    // A backup finishes while the first read may still run: a caller after it must see it.
    const backup = sentinel('base_000000010000000000000004', '2026-12-03T01:00:00.000Z', '2026-12-03T01:01:00.000Z');
    await writeSentinel(store, backup);
    const next = catalog.refresh();
    const shared = catalog.refresh();
    assert.notEqual(next, during, 'a call after a read began gets a read of its own');
    assert.equal(next, shared, 'callers waiting for the next read share it');
    await during;
    assert.deepEqual((await next).map((b) => b.name), [backup.name]);
    assert.equal((await values(metrics)).backups, 1);
  });

  test('a failed read is logged and keeps the last values', async () => {
    const { store } = await fsStore();
    const metrics = new WalshipMetrics();
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
    const catalog = new BackupCatalog(store, metrics, createLogger('warn', sink));
    const backup = sentinel('base_000000010000000000000006', '2026-12-03T01:00:00.000Z', '2026-12-03T01:01:00.000Z');
    await writeSentinel(store, backup);
    await catalog.refresh();
    // A sentinel that no longer parses: the read fails (CODEC_CORRUPT).
    const garbage = Buffer.from('{ not json');
    await store.put(sentinelKey(backup.name), () => Readable.from([garbage]), { contentLength: garbage.length });
    await assert.rejects(catalog.refresh(), /is not valid JSON/);
    assert.deepEqual(await values(metrics), { backups: 1, last: [Date.parse(backup.finishTime) / 1000], first: Date.parse(backup.finishTime) / 1000 }, 'the last values stay');
    catalog.start(60_000);
    await new Promise((r) => setTimeout(r, 200));
    await catalog.stop();
    const warned = lines.map((l) => JSON.parse(l) as { msg: string; code?: string });
    assert.ok(warned.some((l) => /^reading the backup catalogue failed: /.test(l.msg) && l.code === 'CODEC_CORRUPT'), JSON.stringify(warned));
  });

  test('WALSHIP_BACKUP_CATALOG_INTERVAL defaults to 5 minutes', async () => {
    assert.equal((await loadConfig({ env: {} })).config.agent.catalogIntervalMs, 300_000);
    assert.equal((await loadConfig({ env: { WALSHIP_BACKUP_CATALOG_INTERVAL: '30s' } })).config.agent.catalogIntervalMs, 30_000);
  });
});
