// What a base backup leaves out, after "Backing Up the Data Directory" in
// PostgreSQL's documentation (and what pg_basebackup skips): contents that
// the server recreates or never reads after a restore. Directories
// themselves are kept, empty, because the server expects them.

/** Top-level directories whose contents are skipped. */
const EMPTIED_DIRECTORIES = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);

/** Top-level files skipped. The signal files and backup_label are written by the restore itself. */
const SKIPPED_TOP_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'backup_label.old',
  'tablespace_map',
  'tablespace_map.old',
  'postgresql.auto.conf.tmp',
  'current_logfiles.tmp',
  'recovery.signal',
  'standby.signal',
]);

export const PG_CONTROL = 'global/pg_control';

/** True when the entry at this relative path is skipped, with everything under it. */
export function isExcluded(relPath: string): boolean {
  const parts = relPath.split('/');
  const name = parts.at(-1)!;
  if (name.startsWith('pgsql_tmp') || name === 'pg_internal.init') return true;
  if (parts.length === 1 && SKIPPED_TOP_FILES.has(name)) return true;
  // Contents of emptied directories (the directory itself is kept).
  if (parts.length >= 2 && EMPTIED_DIRECTORIES.has(parts[0]!)) return true;
  return false;
}

const RELATION_FILE = /^(\d+)(_fsm|_vm|_init)?(\.\d+)?$/;

/** True for a database directory: base/<oid> or pg_tblspc/<oid>/<version dir>/<oid>. */
export function isDatabaseDir(relDir: string): boolean {
  return /^base\/\d+$/.test(relDir) || /^pg_tblspc\/\d+\/[^/]+\/\d+$/.test(relDir);
}

/**
 * Unlogged relations are reset from their init fork at restart, so their
 * other forks need not be copied: a relation with an _init file keeps only it.
 */
export function unloggedSkips(fileNames: readonly string[]): Set<string> {
  const unlogged = new Set<string>();
  for (const name of fileNames) {
    const m = RELATION_FILE.exec(name);
    if (m && m[2] === '_init') unlogged.add(m[1]!);
  }
  const skip = new Set<string>();
  if (unlogged.size === 0) return skip;
  for (const name of fileNames) {
    const m = RELATION_FILE.exec(name);
    if (m && unlogged.has(m[1]!) && m[2] !== '_init') skip.add(name);
  }
  return skip;
}
