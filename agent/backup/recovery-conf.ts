import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WalshipError } from '../errors.ts';

// Turns a restored directory into a cluster ready to start: the signal file
// and the recovery settings, appended to postgresql.auto.conf (which the
// restore just brought back from the backup, so nothing stale is there).

export type TargetAction = 'promote' | 'pause' | 'shutdown';

export interface RecoveryTarget {
  time?: string;
  lsn?: string;
  xid?: string;
  name?: string;
  immediate?: boolean;
  action: TargetAction;
  standby: boolean;
  restoreCommand: string;
}

export function validateTarget(target: RecoveryTarget): void {
  const given = [target.time, target.lsn, target.xid, target.name, target.immediate ? 'immediate' : undefined].filter((v) => v !== undefined);
  if (given.length > 1) throw new WalshipError('USAGE', 'give at most one of --target-time, --target-lsn, --target-xid, --target-name, --target-immediate');
  if (target.time !== undefined && Number.isNaN(Date.parse(target.time))) {
    throw new WalshipError('USAGE', `--target-time ${target.time}: not a time PostgreSQL and walship both read, e.g. 2026-11-21 13:45:00+00`);
  }
  // Without a zone, walship (choosing the backup) and PostgreSQL (its TimeZone
  // setting) could read the same text as two different instants.
  if (target.time !== undefined && !/(?:[zZ]|[+-]\d{2}(?::?\d{2})?|\s*UTC|\s*GMT)$/.test(target.time.trim())) {
    throw new WalshipError('USAGE', `--target-time ${target.time}: give a time zone (e.g. +00 or Z), so walship and PostgreSQL read the same instant`);
  }
  if (target.lsn !== undefined && !/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(target.lsn)) throw new WalshipError('USAGE', `--target-lsn ${target.lsn}: expected an LSN like 0/16B3748`);
  if (target.xid !== undefined && !/^\d+$/.test(target.xid)) throw new WalshipError('USAGE', `--target-xid ${target.xid}: expected a transaction id`);
  if (target.standby && given.length > 0 && target.action === 'promote') {
    // PostgreSQL allows it, but a standby that promotes at a target is rarely what is meant: keep it explicit.
  }
}

const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;

/**
 * The time as PostgreSQL reads it at start-up: ISO 8601's "Z" is a zone
 * abbreviation, unknown before the abbreviation table loads, so PostgreSQL 15
 * refuses recovery_target_time = '...Z' and will not start. '+00' means the same.
 */
export function postgresTargetTime(time: string): string {
  return time.trim().replace(/(\d)\s*[zZ]$/, '$1+00');
}

export async function writeRecoveryConfig(dataDir: string, target: RecoveryTarget, backupName: string): Promise<void> {
  const lines = [`# added by walship backup-fetch of ${backupName}, ${new Date().toISOString()}`, `restore_command = ${quote(target.restoreCommand)}`];
  if (target.time !== undefined) lines.push(`recovery_target_time = ${quote(postgresTargetTime(target.time))}`);
  if (target.lsn !== undefined) lines.push(`recovery_target_lsn = ${quote(target.lsn)}`);
  if (target.xid !== undefined) lines.push(`recovery_target_xid = ${quote(target.xid)}`);
  if (target.name !== undefined) lines.push(`recovery_target_name = ${quote(target.name)}`);
  if (target.immediate) lines.push(`recovery_target = 'immediate'`);
  const hasTarget = target.time ?? target.lsn ?? target.xid ?? target.name ?? (target.immediate ? 'immediate' : undefined);
  if (hasTarget !== undefined) lines.push(`recovery_target_action = ${quote(target.action)}`);
  await appendFile(join(dataDir, 'postgresql.auto.conf'), `\n${lines.join('\n')}\n`);
  await writeFile(join(dataDir, target.standby ? 'standby.signal' : 'recovery.signal'), '', { mode: 0o600 });
}
