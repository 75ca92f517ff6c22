import { parseLsn } from '../../wal/names.ts';
import type { BackupSentinel } from '../manifest.ts';
import { WALG_DATETIME_FORMAT, goTime } from './dto.ts';
import { exactNumber } from './json-numbers.ts';

// The sentinel walship writes holds WAL-G's BackupSentinelDto (and the
// BackupSentinelDtoV2 additions) beside walship's own fields, so that
// `wal-g backup-list` lists a walship backup and never fails on it. WAL-G
// ignores keys it does not know; but Go's encoding/json also matches keys
// case-insensitively, so walship's `systemIdentifier` (a string) would land
// in WAL-G's SystemIdentifier (a uint64) and fail the whole parse. It is
// therefore stored only as WAL-G's number, and read back from it.

/** walship's keys that fold onto a WAL-G field of another type: stored under WAL-G's name only. */
const FOLDED_AWAY = ['systemIdentifier'] as const;

/** The sentinel as stored: WAL-G's fields first, then walship's. */
export function storedSentinel(sentinel: BackupSentinel): Record<string, unknown> {
  const own: Record<string, unknown> = { ...sentinel };
  for (const key of FOLDED_AWAY) delete own[key];
  return {
    LSN: exactNumber(parseLsn(sentinel.startLsn)),
    Timeline: sentinel.timeline,
    PgVersion: sentinel.pgVersion,
    FinishLSN: exactNumber(parseLsn(sentinel.stopLsn)),
    SystemIdentifier: exactNumber(sentinel.systemIdentifier),
    UncompressedSize: sentinel.dataBytes,
    CompressedSize: sentinel.storedBytes,
    DataCatalogSize: sentinel.dataBytes,
    ...(sentinel.userData === undefined ? {} : { UserData: sentinel.userData }),
    // walship keeps its file list in its own manifest, not in files_metadata.json.
    FilesMetadataDisabled: true,
    StartTime: goTime(sentinel.startTime),
    FinishTime: goTime(sentinel.finishTime),
    DateFmt: WALG_DATETIME_FORMAT,
    Hostname: sentinel.hostname,
    DataDir: sentinel.pgdata,
    IsPermanent: sentinel.permanent,
    ...own,
  };
}

/** metadata.json (WAL-G's ExtendedMetadataDto): what `wal-g backup-list --detail` reads. */
export function storedMetadata(sentinel: BackupSentinel): Record<string, unknown> {
  return {
    start_time: goTime(sentinel.startTime),
    finish_time: goTime(sentinel.finishTime),
    date_fmt: WALG_DATETIME_FORMAT,
    hostname: sentinel.hostname,
    data_dir: sentinel.pgdata,
    pg_version: sentinel.pgVersion,
    start_lsn: exactNumber(parseLsn(sentinel.startLsn)),
    finish_lsn: exactNumber(parseLsn(sentinel.stopLsn)),
    is_permanent: sentinel.permanent,
    system_identifier: exactNumber(sentinel.systemIdentifier),
    timeline: sentinel.timeline,
    uncompressed_size: sentinel.dataBytes,
    compressed_size: sentinel.storedBytes,
    ...(sentinel.userData === undefined ? {} : { user_data: sentinel.userData }),
  };
}
