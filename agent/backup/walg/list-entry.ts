import { parseLsn } from '../../wal/names.ts';
import type { BackupSentinel } from '../manifest.ts';
import { WALG_DATETIME_FORMAT, goTime } from './dto.ts';
import { exactNumber } from './json-numbers.ts';

// One backup as `backup-list --json` prints it: WAL-G's fields first, with
// WAL-G's names, types and time format, so that scripts written for
// `wal-g backup-list --json [--detail]` read it; then walship's own fields
// and `tool`. WAL-G's shapes (wal-g/wal-g):
//   internal/backup_time.go: BackupTime { backup_name, time, wal_file_name, storage_name }
//   internal/databases/postgres/backup_detail.go: BackupDetail = BackupTime + ExtendedMetadataDto
//   internal/databases/postgres/backup_sentinel_dto.go: ExtendedMetadataDto (LSNs and the system identifier are numbers)

/** WAL-G's name for the one storage it lists when there are no failover storages. */
const STORAGE_NAME = 'default';

const lsnNumber = (lsn: string) => (lsn ? exactNumber(parseLsn(lsn)) : 0);

export function listEntry(b: BackupSentinel, detail: boolean): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    backup_name: b.name,
    // WAL-G's `time` is when the sentinel was written: the backup's finish.
    time: goTime(b.finishTime),
    wal_file_name: b.startWalFile,
    storage_name: STORAGE_NAME,
  };
  if (detail) {
    Object.assign(entry, {
      start_time: goTime(b.startTime),
      finish_time: goTime(b.finishTime),
      date_fmt: WALG_DATETIME_FORMAT,
      hostname: b.hostname,
      data_dir: b.pgdata,
      pg_version: b.pgVersion,
      start_lsn: lsnNumber(b.startLsn),
      finish_lsn: lsnNumber(b.stopLsn),
      is_permanent: b.permanent,
      system_identifier: /^\d+$/.test(b.systemIdentifier) ? exactNumber(b.systemIdentifier) : null,
      uncompressed_size: b.dataBytes,
      compressed_size: b.storedBytes,
      ...(b.userData === undefined ? {} : { user_data: b.userData }),
    });
  }
  const { tool: _t, ...own } = b;
  if (b.tool === 'wal-g') {
    // walship holds no format, manifest nor encoding of its own for a WAL-G backup: none are shown.
    const { formatVersion: _f, encoding: _e, manifestKey: _m, fileCount: _c, fromStandby: _s, ...known } = own;
    return { ...entry, tool: 'wal-g', ...known };
  }
  return { ...entry, tool: 'walship', ...own };
}
