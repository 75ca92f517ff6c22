import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Config } from '../config/types.ts';
import { WalshipError, asWalshipError, catalogue, type ErrorCode } from '../errors.ts';
import { connectPg } from '../pg/connection.ts';
import { checkStore } from '../storage/check.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { ClusterIdentity } from '../wal/cluster-identity.ts';
import { findArchived } from '../wal/layout.ts';
import { checkArchiveSettings } from './archive-settings.ts';

// `walship check`, and the agent's start-up check: the whole archiving
// chain, one step after another, stopping at the first that fails (what
// follows it could only fail for the same cause, or pass for the wrong one).

export const CHECK_STEPS = ['config', 'store', 'postgres', 'archive-settings', 'wal-switch'] as const;
export type CheckStepName = (typeof CHECK_STEPS)[number];

export interface CheckStepResult {
  step: CheckStepName;
  status: 'ok' | 'failed' | 'skipped';
  detail: string;
  /** The error code of a failed step. */
  code?: string;
  ms: number;
}

export interface CheckOptions {
  /** Called as each step ends, so a terminal shows progress. */
  onStep?: (result: CheckStepResult) => void;
  /** Force a WAL switch on a primary and wait for its segment (the agent may leave this to the CLI). */
  switchWal?: boolean;
  /** false: PostgreSQL is not configured, and its steps are skipped. */
  postgres?: boolean;
}

interface PgFacts {
  client: pg.Client;
  inRecovery: boolean;
  systemIdentifier: string;
}

/** Runs the steps in order; the first failure ends the run, and later steps are not reported. */
export async function runCheck(config: Config, store: StorageDriver, options: CheckOptions = {}): Promise<CheckStepResult[]> {
  const results: CheckStepResult[] = [];
  let pgFacts: PgFacts | undefined;
  let client: pg.Client | undefined;
  const step = async (name: CheckStepName, body: () => Promise<string | { skipped: string }>): Promise<boolean> => {
    const started = Date.now();
    let result: CheckStepResult;
    try {
      const out = await body();
      result = typeof out === 'string' ? { step: name, status: 'ok', detail: out, ms: Date.now() - started } : { step: name, status: 'skipped', detail: out.skipped, ms: Date.now() - started };
    } catch (err) {
      const e = asWalshipError(err);
      result = { step: name, status: 'failed', detail: e.message, code: e.code, ms: Date.now() - started };
    }
    results.push(result);
    options.onStep?.(result);
    return result.status !== 'failed';
  };

  try {
    // Each step runs only when the one before it passed.
    (await step('config', async () => `store ${store.location}, compression ${config.codec.compression}${config.codec.pgp ? ', OpenPGP encryption' : ''}`)) &&
      (await step('store', () => checkStore(store, 'write'))) &&
      (await step('postgres', async () => {
        if (options.postgres === false) return { skipped: 'PGHOST and PGDATA are unset' };
        client = await connectPg(config.pg, Math.min(config.transfer.requestTimeoutMs, 10_000));
        const row = (await client.query<{ v: string; r: boolean; sysid: string }>('select version() as v, pg_is_in_recovery() as r, (select system_identifier::text from pg_control_system()) as sysid')).rows[0]!;
        pgFacts = { client, inRecovery: row.r, systemIdentifier: row.sysid };
        return `${row.v.split(' on ')[0]}, ${row.r ? 'a standby (in recovery)' : 'a primary'}, system identifier ${row.sysid}`;
      })) &&
      (await step('archive-settings', async () => {
        if (pgFacts === undefined) return { skipped: 'no PostgreSQL to ask' };
        const { client, inRecovery, systemIdentifier } = pgFacts!;
        const settings = (await client.query<{ name: string; setting: string }>("select name, setting from pg_settings where name in ('archive_mode', 'archive_command', 'archive_library')")).rows;
        const get = (n: string) => settings.find((s) => s.name === n)?.setting ?? '';
        const line = checkArchiveSettings({ archiveMode: get('archive_mode'), archiveCommand: get('archive_command'), archiveLibrary: get('archive_library'), inRecovery });
        const archiveOf = await new ClusterIdentity(store).systemIdentifier();
        if (archiveOf !== undefined && archiveOf !== systemIdentifier) {
          throw new WalshipError('WAL_FOREIGN_CLUSTER', `${store.location} holds the WAL of database system ${archiveOf}, but this PostgreSQL is system ${systemIdentifier}: give this cluster its own prefix`);
        }
        return line;
      })) &&
      (await step('wal-switch', async () => {
        if (pgFacts === undefined) return { skipped: 'no PostgreSQL to ask' };
        const { client, inRecovery } = pgFacts!;
        if (inRecovery) return { skipped: 'a standby cannot switch WAL; run walship check against the primary' };
        if (options.switchWal === false) return { skipped: 'no WAL switch forced (--no-switch, or the agent at start-up)' };
        return switchAndWait(client, store, config.agent.checkWalTimeoutMs);
      }));
  } finally {
    await client?.end().catch(() => undefined);
  }
  return results;
}

/** The failed step of a run, as the error it raised. */
export function checkFailure(results: readonly CheckStepResult[]): WalshipError | undefined {
  const failed = results.find((r) => r.status === 'failed');
  if (failed === undefined) return undefined;
  const code = failed.code !== undefined && Object.hasOwn(catalogue, failed.code) ? (failed.code as ErrorCode) : 'INTERNAL';
  return new WalshipError(code, `check failed at ${failed.step}: ${failed.detail}`);
}

/**
 * pg_switch_wal() after a restore point, so the segment it finishes holds
 * something new and has never been archived before; then waits for it in
 * the store, and on a timeout says what pg_stat_archiver knows.
 */
async function switchAndWait(client: pg.Client, store: StorageDriver, timeoutMs: number): Promise<string> {
  await client.query("select pg_create_restore_point('walship check')");
  const segment = (await client.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name')).rows[0]!.name;
  const started = Date.now();
  for (;;) {
    const found = await findArchived(store, segment);
    if (found !== undefined) return `switched WAL; ${segment} reached the store as ${found.key} in ${Date.now() - started} ms`;
    if (Date.now() - started > timeoutMs) break;
    await sleep(200);
  }
  const stats = (await client.query<{ last_archived_wal: string | null; last_failed_wal: string | null; failed_count: string }>('select last_archived_wal, last_failed_wal, failed_count::text from pg_stat_archiver')).rows[0]!;
  const why =
    stats.last_archived_wal !== null && stats.last_archived_wal.slice(0, 24) >= segment
      ? `PostgreSQL reports it archived (pg_stat_archiver last_archived_wal ${stats.last_archived_wal}), but it is not in ${store.location}: archive_command stores WAL somewhere else (another prefix or bucket in the server's environment?)`
      : stats.last_failed_wal !== null && stats.last_failed_wal.slice(0, 24) >= segment
        ? `archive_command failed for it (${stats.failed_count} failures so far; see PostgreSQL's log)`
        : `the archiver has not got to it (last archived ${stats.last_archived_wal ?? 'none'}; a backlog in pg_wal/archive_status?)`;
  throw new WalshipError('ARCHIVE_CHECK_TIMEOUT', `${segment}, finished by pg_switch_wal(), did not reach the store within ${timeoutMs} ms: ${why}`, { details: { segment } });
}
