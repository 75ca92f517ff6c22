import type pg from 'pg';
import { parseLsn } from '../wal/names.ts';

// Where the cluster is: its timeline, the position WAL has reached, and its
// segment size. A primary reports what it writes; a standby what it has
// replayed (it cannot call pg_walfile_name()).

export interface ClusterPosition {
  timeline: number;
  lsn: bigint;
  segmentSize: number;
  inRecovery: boolean;
}

export async function readClusterPosition(client: pg.Client): Promise<ClusterPosition> {
  const row = (
    await client.query<{ r: boolean; lsn: string | null; file: string | null; tli: number; seg: string }>(
      `select pg_is_in_recovery() as r,
              case when pg_is_in_recovery() then pg_last_wal_replay_lsn()::text else pg_current_wal_lsn()::text end as lsn,
              case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end as file,
              (select timeline_id from pg_control_checkpoint()) as tli,
              (select setting from pg_settings where name = 'wal_segment_size') as seg`,
    )
  ).rows[0]!;
  // On a primary the file name carries the timeline WAL is written on now (the checkpoint's may be older, just after a promotion).
  const timeline = row.file === null ? row.tli : parseInt(row.file.slice(0, 8), 16);
  return { timeline, lsn: row.lsn === null ? 0n : parseLsn(row.lsn), segmentSize: Number(row.seg), inRecovery: row.r };
}
