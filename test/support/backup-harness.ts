import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after } from 'node:test';
import type pg from 'pg';
import type { BackupSentinel } from '../../agent/backup/manifest.ts';
import { WALSHIP_BIN, runWalship, type CliResult } from './cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir, type ClusterOptions } from './pg-cluster.ts';
import { switchWal, waitArchived } from './wal-helpers.ts';
import type { BackupStore } from './backup-stores.ts';

// Base backups with real PostgreSQL 15 and the real CLI: a source cluster
// that archives through `walship wal-push`, backup-push / backup-fetch /
// backup-list run as users run them, restored clusters that fetch WAL
// through `walship wal-fetch`, and exact checks of what a restore holds.

/** archive_command / restore_command running the built walship with this Node. */
export function walshipCommand(args: string): string {
  return `'${process.execPath}' '${WALSHIP_BIN}' ${args}`;
}

/** A started cluster archiving into the store that `storeEnv` describes. */
export async function startArchivingSource(storeEnv: Record<string, string>, options: ClusterOptions = {}): Promise<PgCluster> {
  const cluster = await PgCluster.create({
    ...(options.dataChecksums ? { dataChecksums: true } : {}),
    conf: { archive_mode: 'on', archive_command: walshipCommand('wal-push %p'), archive_timeout: 0, ...(options.conf ?? {}) },
    env: { ...storeEnv, ...(options.env ?? {}) },
  });
  await cluster.start();
  return cluster;
}

/** What backup-push needs to reach a cluster: the PG* variables of its socket and data directory. */
export function pgEnv(cluster: PgCluster): Record<string, string> {
  return { PGHOST: cluster.socketDir, PGPORT: String(cluster.port), PGUSER: 'postgres', PGDATA: cluster.dataDir };
}

export function describeCli(r: CliResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** backup-push against the cluster; asserts success and returns the new backup's name. */
export async function pushBackup(cluster: PgCluster, env: Record<string, string>, args: readonly string[] = []): Promise<string> {
  const r = await runWalship(['backup-push', ...args], { ...pgEnv(cluster), ...env });
  assert.equal(r.code, 0, `backup-push failed: ${describeCli(r)}`);
  const m = /^(base_[0-9A-F]{24}(?:_\d+)?): /m.exec(r.stdout);
  assert.ok(m, `backup-push printed no backup name: ${describeCli(r)}`);
  return m[1]!;
}

/** WAL-G's fields in a backup-list --json entry, before walship's own (see agent/backup/walg/list-entry.ts). */
const WALG_LIST_FIELDS = ['backup_name', 'time', 'wal_file_name', 'storage_name', 'tool'];

/** backup-list --json: walship's backups as their sentinels (WAL-G's fields and `tool` checked, then dropped). */
export async function listBackups(env: Record<string, string>): Promise<BackupSentinel[]> {
  const r = await runWalship(['backup-list', '--json'], env);
  assert.equal(r.code, 0, `backup-list failed: ${describeCli(r)}`);
  const parsed = JSON.parse(r.stdout) as unknown;
  assert.ok(Array.isArray(parsed), `backup-list --json printed no array: ${r.stdout}`);
  return (parsed as Record<string, unknown>[]).map((entry) => {
    assert.equal(entry['backup_name'], entry['name'], 'backup_name is the name');
    assert.equal(entry['wal_file_name'], entry['startWalFile'], 'wal_file_name is the start WAL file');
    assert.equal(entry['tool'], 'walship');
    const own = { ...entry };
    for (const k of WALG_LIST_FIELDS) delete own[k];
    return own as unknown as BackupSentinel;
  });
}

export interface Restored {
  cluster: PgCluster;
  /** The backup backup-fetch chose, from its output. */
  backup: string;
  /** What backup-fetch printed. */
  output: string;
}

/** A postgres-owned root for a restore; the data directory inside it does not exist yet, or is created empty. */
export async function restoreRoot(options: { createEmpty?: boolean } = {}): Promise<{ root: string; dataDir: string }> {
  const root = await postgresOwnedDir('walship-restore-');
  const dataDir = join(root, 'data');
  if (options.createEmpty) {
    await mkdir(dataDir, { mode: 0o700 });
    await chownToPostgres(dataDir);
  }
  return { root, dataDir };
}

/**
 * backup-fetch into dataDir with restore_command = walship wal-fetch, then
 * start the restored cluster (not archiving, so it leaves the store alone)
 * and wait until recovery ends with promotion.
 */
export async function fetchAndStart(
  env: Record<string, string>,
  where: { root: string; dataDir: string },
  backup: string,
  args: readonly string[] = [],
): Promise<Restored> {
  const r = await runWalship(['backup-fetch', where.dataDir, backup, '--restore-command', walshipCommand('wal-fetch %f %p'), ...args], env);
  assert.equal(r.code, 0, `backup-fetch failed: ${describeCli(r)}`);
  const m = /^(base_[0-9A-F]{24}(?:_\d+)?) restored into /m.exec(r.stdout);
  assert.ok(m, `backup-fetch printed no backup name: ${describeCli(r)}`);
  const cluster = await PgCluster.adopt(where.root, where.dataDir, { conf: { archive_mode: 'off' }, env });
  await startPromoted(cluster);
  return { cluster, backup: m[1]!, output: r.stdout };
}

/** Starts a restored cluster and waits for the end of recovery; a failure carries the server log. */
export async function startPromoted(cluster: PgCluster): Promise<void> {
  try {
    await cluster.start();
    await cluster.waitPromoted();
  } catch (err) {
    await cluster.stop('immediate');
    throw new Error(`${(err as Error).message}\n--- server log ---\n${(await cluster.log()).slice(-4000)}`);
  }
}

/** Switches WAL on the cluster and waits until the finished segment is in the store. */
export async function archiveAll(cluster: PgCluster): Promise<void> {
  await waitArchived(cluster, await switchWal(cluster));
}

/** An exact, order-independent fingerprint of tables: row count and a sum of row hashes. */
export async function fingerprint(cluster: PgCluster, tables: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of tables) {
    const [row] = await cluster.query<{ f: string }>(`select count(*)::text || ':' || coalesce(sum(hashtext(t::text)::bigint), 0)::text as f from ${table} t`);
    out[table] = row!.f;
  }
  return out;
}

export const PGBENCH_TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'] as const;

export interface LedgerState {
  count: number;
  sum: string;
  maxId: number;
}

export interface LedgerTarget {
  kind: 'time' | 'lsn';
  /** recovery_target_time ('2026-11-21 13:45:00.123456+00') or recovery_target_lsn. */
  value: string;
  expected: LedgerState;
}

/**
 * A steady writer: one row per transaction into ledger, each with the
 * running count and sum in ledger_check. Targets are taken between two
 * commits of this one writer, so the state at each is known exactly.
 */
export class Ledger {
  private readonly client: pg.Client;
  private count = 0;
  private sum = 0n;
  private maxId = 0;
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly requests: { kind: 'time' | 'lsn'; resolve(t: LedgerTarget): void; reject(err: unknown): void }[] = [];

  private constructor(client: pg.Client) {
    this.client = client;
  }

  static async create(cluster: PgCluster): Promise<Ledger> {
    await cluster.query(`create table ledger (id serial primary key, at timestamptz not null default clock_timestamp(), v bigint not null);
      create table ledger_check (one int primary key, n bigint not null, total numeric not null);
      insert into ledger_check values (1, 0, 0);`);
    const client = cluster.client();
    client.on('error', () => undefined);
    await client.connect();
    return new Ledger(client);
  }

  state(): LedgerState {
    return { count: this.count, sum: this.sum.toString(), maxId: this.maxId };
  }

  /** Inserts one row, committed when this resolves. */
  async write(): Promise<void> {
    const v = BigInt(Math.floor(Math.random() * 1_000_000_000));
    const { rows } = await this.client.query<{ id: number }>(
      'with i as (insert into ledger (v) values ($1) returning id), u as (update ledger_check set n = n + 1, total = total + $1 where one = 1) select id from i',
      [v.toString()],
    );
    this.count++;
    this.sum += v;
    this.maxId = rows[0]!.id;
  }

  async writeMany(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.write();
  }

  /** Writes in the background, a row every `intervalMs`, until stop(). */
  start(intervalMs = 5): void {
    this.stopping = false;
    this.running = (async () => {
      while (!this.stopping) {
        await this.write();
        const request = this.requests.shift();
        if (request) request.resolve(await this.takeTarget(request.kind));
        await sleep(intervalMs);
      }
    })();
    // Reported by stop() and to waiting mark()s; never an unhandled rejection if the test already failed.
    this.running.catch((err: unknown) => {
      for (const r of this.requests.splice(0)) r.reject(err);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const running = this.running;
    this.running = undefined;
    await running;
  }

  /** A target between two commits: in the background writer's loop when it runs, else now. */
  mark(kind: 'time' | 'lsn'): Promise<LedgerTarget> {
    if (!this.running) return this.takeTarget(kind);
    return new Promise((resolve, reject) => this.requests.push({ kind, resolve, reject }));
  }

  private async takeTarget(kind: 'time' | 'lsn'): Promise<LedgerTarget> {
    const sql =
      kind === 'lsn'
        ? // The insert position: with synchronous_commit = off, pg_current_wal_lsn() (the write position) lags behind commits.
          'select pg_current_wal_insert_lsn()::text as v'
        : `select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US"+00"') as v`;
    const { rows } = await this.client.query<{ v: string }>(sql);
    // The next commit must be strictly later than a time target.
    if (kind === 'time') await sleep(2);
    return { kind, value: rows[0]!.v, expected: this.state() };
  }

  async close(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await this.client.end().catch(() => undefined);
    }
  }
}

/** The ledger as a cluster holds it, and whether ledger_check agrees with it. */
export async function ledgerState(cluster: PgCluster): Promise<LedgerState & { consistent: boolean }> {
  const [row] = await cluster.query<{ count: string; sum: string | null; max: number | null; n: string; total: string }>(
    'select count(*)::text as count, sum(v)::text as sum, max(id) as max, (select n::text from ledger_check) as n, (select total::text from ledger_check) as total from ledger',
  );
  const count = Number(row!.count);
  const sum = row!.sum ?? '0';
  return { count, sum, maxId: row!.max ?? 0, consistent: row!.n === row!.count && row!.total === sum };
}

export async function removeAll(paths: readonly string[]): Promise<void> {
  for (const p of paths) await rm(p, { recursive: true, force: true });
}

/** Polls until the condition holds, failing after timeoutMs. */
export async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** What a backup test creates, destroyed after its suite: the ledger's writer, clusters (newest first), directories, the store. */
export function backupTestResources(): { store: BackupStore | undefined; ledger: Ledger | undefined; clusters: PgCluster[]; dirs: string[] } {
  const resources = { store: undefined as BackupStore | undefined, ledger: undefined as Ledger | undefined, clusters: [] as PgCluster[], dirs: [] as string[] };
  after(async () => {
    await resources.ledger?.close().catch(() => undefined);
    for (const c of [...resources.clusters].reverse()) await c.destroy();
    await removeAll(resources.dirs);
    await resources.store?.stop();
  });
  return resources;
}
