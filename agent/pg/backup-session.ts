import type pg from 'pg';
import { WalshipError } from '../errors.ts';
import { parseLsn } from '../wal/names.ts';
import { queryOne } from './connection.ts';

// Non-exclusive backup mode: the session that starts it must stay open
// until it stops it, and PostgreSQL aborts the backup if the session dies,
// so a killed walship never leaves the server in backup mode.

export interface ServerFacts {
  versionNum: number;
  systemIdentifier: string;
  inRecovery: boolean;
  walSegmentSize: number;
  dataDirectory: string;
  archiveMode: string;
  archiveCommand: string;
  dataChecksums: boolean;
}

export async function serverFacts(client: pg.Client): Promise<ServerFacts> {
  const row = await queryOne<{ v: string; sysid: string; rec: boolean; seg: string; dir: string; am: string; ac: string; cs: string }>(
    client,
    `select current_setting('server_version_num') as v,
            (select system_identifier::text from pg_control_system()) as sysid,
            pg_is_in_recovery() as rec,
            current_setting('wal_segment_size') as seg,
            current_setting('data_directory') as dir,
            current_setting('archive_mode') as am,
            current_setting('archive_command') as ac,
            current_setting('data_checksums') as cs`,
  );
  return {
    versionNum: Number(row.v),
    systemIdentifier: row.sysid,
    inRecovery: row.rec,
    walSegmentSize: parseSize(row.seg),
    dataDirectory: row.dir,
    archiveMode: row.am,
    archiveCommand: row.ac,
    dataChecksums: row.cs === 'on',
  };
}

/** wal_segment_size as SHOW prints it ('16MB'). */
function parseSize(text: string): number {
  const m = /^(\d+)\s*(B|kB|MB|GB)?$/.exec(text.trim());
  if (!m) throw new WalshipError('INTERNAL', `unexpected wal_segment_size ${text}`);
  return Number(m[1]) * { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(m[2] ?? 'B') as 'B'];
}

export interface BackupStart {
  lsn: bigint;
  timeline: number;
}

export async function startBackup(client: pg.Client, facts: ServerFacts, label: string): Promise<BackupStart> {
  try {
    const sql = facts.versionNum >= 150000 ? 'select pg_backup_start($1, true)::text as lsn' : 'select pg_start_backup($1, true, false)::text as lsn';
    const { lsn } = await queryOne<{ lsn: string }>(client, sql, [label]);
    const { tli } = await queryOne<{ tli: number }>(client, 'select timeline_id as tli from pg_control_checkpoint()');
    return { lsn: parseLsn(lsn), timeline: Number(tli) };
  } catch (err) {
    if (err instanceof WalshipError) throw err;
    throw new WalshipError('PG_BACKUP_FAILED', `PostgreSQL refused to start a backup: ${(err as Error).message}`, { cause: err });
  }
}

export interface BackupStop {
  lsn: bigint;
  labelFile: string;
  tablespaceMap: string;
}

/**
 * Ends backup mode without PostgreSQL's own wait for archiving, which can
 * hang for ever (wal-g#939): walship waits for the WAL itself, in its own
 * store, with a deadline.
 */
export async function stopBackup(client: pg.Client, facts: ServerFacts): Promise<BackupStop> {
  try {
    const sql =
      facts.versionNum >= 150000
        ? 'select lsn::text as lsn, labelfile, spcmapfile from pg_backup_stop(false)'
        : 'select lsn::text as lsn, labelfile, spcmapfile from pg_stop_backup(false, false)';
    const row = await queryOne<{ lsn: string; labelfile: string; spcmapfile: string | null }>(client, sql);
    return { lsn: parseLsn(row.lsn), labelFile: row.labelfile, tablespaceMap: row.spcmapfile ?? '' };
  } catch (err) {
    throw new WalshipError('PG_BACKUP_FAILED', `PostgreSQL failed to stop the backup: ${(err as Error).message}`, { cause: err });
  }
}
