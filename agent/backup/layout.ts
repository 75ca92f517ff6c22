// WAL-G's layout for base backups, so the two tools' archives look alike:
//   basebackups_005/<name>/tar_partitions/part_<n>.tar<ext>   the data, in parts
//   basebackups_005/<name>/manifest.json<ext>                  every file, with its checksum
//   basebackups_005/<name>/metadata.json                       WAL-G's summary, for wal-g backup-list --detail
//   basebackups_005/<name>_backup_stop_sentinel.json           written last: the backup is complete
// A backup without its sentinel is unfinished: never listed, never restored.

export const BACKUP_PREFIX = 'basebackups_005/';
const SENTINEL_SUFFIX = '_backup_stop_sentinel.json';

export function backupDir(name: string): string {
  return `${BACKUP_PREFIX}${name}/`;
}

export function partKey(name: string, part: number, extension: string): string {
  return `${backupDir(name)}tar_partitions/part_${String(part).padStart(3, '0')}.tar${extension}`;
}

export function manifestKey(name: string, extension: string): string {
  return `${backupDir(name)}manifest.json${extension}`;
}

/** WAL-G's metadata.json (ExtendedMetadataDto), which `wal-g backup-list --detail` reads; walship writes one too. */
export function walgMetadataKey(name: string): string {
  return `${backupDir(name)}metadata.json`;
}

export function sentinelKey(name: string): string {
  return `${BACKUP_PREFIX}${name}${SENTINEL_SUFFIX}`;
}

/** The backup name a sentinel key belongs to, or undefined for other keys. */
export function nameFromSentinelKey(key: string): string | undefined {
  if (!key.startsWith(BACKUP_PREFIX) || !key.endsWith(SENTINEL_SUFFIX)) return undefined;
  const name = key.slice(BACKUP_PREFIX.length, -SENTINEL_SUFFIX.length);
  return name.includes('/') ? undefined : name;
}

/** base_<WAL file of the start LSN>, as WAL-G names backups: names sort by start position. */
export function backupName(startWalFile: string): string {
  return `base_${startWalFile}`;
}
