import type { ObjectInfo } from '../storage/driver.ts';
import { BACKUP_PREFIX, nameFromSentinelKey } from './layout.ts';
import { segmentPosition } from './retention-wal.ts';

// Backup directories without a sentinel: an interrupted backup's leftovers
// (garbage), or a backup still being taken. Only their age tells them
// apart: a backup writes a part every few minutes while it runs, so a
// directory written to within the grace period is left alone.

/** Unfinished backups younger than this are taken for backups in progress. */
export const IN_PROGRESS_GRACE_MS = 6 * 3_600_000;

export interface UnfinishedBackup {
  name: string;
  keys: string[];
  bytes: number;
  /** When its newest object was written. */
  newest: Date;
  /** Its start position, from the name (base_<start WAL file>), when the name has one. */
  startPosition?: bigint;
}

/** Groups the objects under basebackups_005/ by backup directory; sentinels and loose objects are left out. */
export function backupDirectories(objects: readonly ObjectInfo[]): Map<string, ObjectInfo[]> {
  const dirs = new Map<string, ObjectInfo[]>();
  for (const o of objects) {
    if (!o.key.startsWith(BACKUP_PREFIX)) continue;
    const rest = o.key.slice(BACKUP_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const name = rest.slice(0, slash);
    let list = dirs.get(name);
    if (!list) dirs.set(name, (list = []));
    list.push(o);
  }
  return dirs;
}

/** The sentinel keys present in a listing, by backup name. */
export function sentinelKeysIn(objects: readonly ObjectInfo[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of objects) {
    const name = nameFromSentinelKey(o.key);
    if (name !== undefined) out.set(name, o.key);
  }
  return out;
}

/** Backup directories no complete backup owns, split by age into interrupted (older than graceMs) and in progress. */
export function unfinishedBackups(
  objects: readonly ObjectInfo[],
  completeNames: ReadonlySet<string>,
  now: Date,
  graceMs: number,
): { interrupted: UnfinishedBackup[]; inProgress: UnfinishedBackup[] } {
  const interrupted: UnfinishedBackup[] = [];
  const inProgress: UnfinishedBackup[] = [];
  for (const [name, list] of backupDirectories(objects)) {
    if (completeNames.has(name)) continue;
    const newest = new Date(Math.max(...list.map((o) => o.lastModified.getTime())));
    const start = /^base_([0-9A-F]{24})(?:_|$)/.exec(name);
    const startPosition = start ? segmentPosition(start[1]!) : undefined;
    const entry: UnfinishedBackup = {
      name,
      keys: list.map((o) => o.key).sort(),
      bytes: list.reduce((s, o) => s + o.size, 0),
      newest,
      ...(startPosition === undefined ? {} : { startPosition }),
    };
    (now.getTime() - newest.getTime() < graceMs ? inProgress : interrupted).push(entry);
  }
  const byName = (a: UnfinishedBackup, b: UnfinishedBackup) => a.name.localeCompare(b.name);
  return { interrupted: interrupted.sort(byName), inProgress: inProgress.sort(byName) };
}
