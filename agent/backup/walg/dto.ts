// WAL-G's own JSON shapes, field for field, from its Go source (wal-g/wal-g):
//   internal/databases/postgres/backup_sentinel_dto.go: BackupSentinelDto, ExtendedMetadataDto
//   internal/backup_time.go: BackupTime (backup-list --json)
//   internal/databases/postgres/backup_detail.go: BackupDetail = BackupTime + ExtendedMetadataDto (backup-list --detail --json)
// Go's LSN is a uint64 and SystemIdentifier a *uint64: JSON numbers. Here
// they are decimal strings (see json-numbers.ts) so that no digit is lost.
// Go's encoding/json matches keys case-insensitively, so a key of walship's
// own that folds to one of these must carry the same type (see sentinel-write.ts).

/** basebackups_005/<name>_backup_stop_sentinel.json */
export interface WalgSentinelDto {
  LSN?: string;
  Timeline?: number;
  DeltaLSN?: string;
  DeltaFrom?: string;
  DeltaFullName?: string;
  DeltaCount?: number;
  PgVersion: number;
  FinishLSN?: string;
  SystemIdentifier?: string;
  UncompressedSize: number;
  CompressedSize: number;
  DataCatalogSize?: number;
  Spec?: unknown;
  UserData?: unknown;
  FilesMetadataDisabled?: boolean;
  // BackupSentinelDtoV2 (written by newer WAL-G beside the above)
  Version?: number;
  StartTime?: string;
  FinishTime?: string;
  DateFmt?: string;
  Hostname?: string;
  DataDir?: string;
  IsPermanent?: boolean;
  // DeprecatedSentinelFields: old WAL-G kept the file list in the sentinel
  DeltaFromLSN?: string;
  Files?: unknown;
}

/** basebackups_005/<name>/metadata.json */
export interface WalgMetadataDto {
  start_time: string;
  finish_time: string;
  date_fmt: string;
  hostname: string;
  data_dir: string;
  pg_version: number;
  start_lsn: string;
  finish_lsn: string;
  is_permanent: boolean;
  system_identifier: string | null;
  timeline?: number;
  uncompressed_size: number;
  compressed_size: number;
  user_data?: unknown;
}

/** Keys whose numbers are 64-bit in WAL-G, read back as decimal text. */
export const WIDE_NUMBER_KEYS: ReadonlySet<string> = new Set(['LSN', 'DeltaLSN', 'FinishLSN', 'SystemIdentifier', 'DeltaFromLSN', 'start_lsn', 'finish_lsn', 'system_identifier']);

/** WAL-G's MetadataDatetimeFormat, recorded in metadata.json's date_fmt. */
export const WALG_DATETIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%fZ';

/** A time as Go's time.Time marshals it (RFC 3339, fraction without trailing zeros). */
export function goTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : 'Z'));
}
