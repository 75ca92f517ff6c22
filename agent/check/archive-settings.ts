import { WalshipError } from '../errors.ts';

// What PostgreSQL's own settings must say for WAL to reach walship: the
// archiver on, and archive_command running walship (in-process, or the
// agent's client). A WAL switch then proves the rest (the same store).

export interface ArchiveSettings {
  archiveMode: string;
  archiveCommand: string;
  /** PostgreSQL 15's archive_library: when set, archive_command is ignored. */
  archiveLibrary: string;
  inRecovery: boolean;
}

/** A walship archive_command: `walship wal-push %p`, `walship-client wal-push %p`, or either by path. */
const WALSHIP_PUSH = /walship(?:-client)?['"]?\s+(?:.*\s)?wal-push\s+['"]?%p/;

/** The line describing good settings; throws ARCHIVE_MISCONFIGURED naming the setting at fault. */
export function checkArchiveSettings(s: ArchiveSettings): string {
  if (s.archiveMode === 'off') {
    throw new WalshipError('ARCHIVE_MISCONFIGURED', 'archive_mode is off: PostgreSQL archives no WAL at all; set archive_mode = on (a restart is needed)');
  }
  if (s.archiveLibrary !== '') {
    throw new WalshipError('ARCHIVE_MISCONFIGURED', `archive_library is ${JSON.stringify(s.archiveLibrary)}: PostgreSQL then ignores archive_command; set archive_library = '' and archive_command = 'walship wal-push %p'`);
  }
  if (s.archiveCommand === '' || s.archiveCommand === '(disabled)') {
    throw new WalshipError('ARCHIVE_MISCONFIGURED', "archive_command is empty: PostgreSQL keeps every segment in pg_wal and archives none; set archive_command = 'walship wal-push %p'");
  }
  if (!WALSHIP_PUSH.test(s.archiveCommand)) {
    throw new WalshipError('ARCHIVE_MISCONFIGURED', `archive_command is ${JSON.stringify(s.archiveCommand)}: it does not run walship wal-push %p (or walship-client wal-push %p), so WAL goes elsewhere or nowhere`);
  }
  const standby = s.inRecovery ? (s.archiveMode === 'always' ? ', and this standby archives too (always)' : '; this is a standby, so its primary archives (on)') : '';
  return `archive_mode = ${s.archiveMode}, archive_command = ${JSON.stringify(s.archiveCommand)}${standby}`;
}
