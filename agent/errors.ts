// One catalogue of every error walship raises. Codes are stable: scripts,
// alerts and docs may rely on them. Exit codes follow sysexits(3) where one
// fits, and 74 for "not in the archive" because WAL-G users' scripts expect it.

export const catalogue = {
  USAGE: { exit: 64, retryable: false, summary: 'bad command-line usage' },
  CONFIG_INVALID: { exit: 78, retryable: false, summary: 'invalid configuration' },
  CONFIG_UNKNOWN_VARIABLE: { exit: 78, retryable: false, summary: 'unknown configuration variable' },
  CONFIG_CONFLICT: { exit: 78, retryable: false, summary: 'conflicting configuration' },
  CONFIG_MISSING: { exit: 78, retryable: false, summary: 'required setting missing' },
  // Raised by bin/walship itself, before any of the agent is loaded.
  NODE_UNSUITABLE: { exit: 78, retryable: false, summary: 'no Node.js recent enough to run walship' },

  STORE_NOT_FOUND: { exit: 74, retryable: false, summary: 'object not found in the store' },
  STORE_TIMEOUT: { exit: 75, retryable: true, summary: 'store did not answer in time' },
  STORE_UNREACHABLE: { exit: 69, retryable: true, summary: 'store unreachable' },
  STORE_AUTH: { exit: 77, retryable: false, summary: 'store refused the credentials' },
  STORE_FORBIDDEN: { exit: 77, retryable: false, summary: 'store denied access' },
  STORE_NO_BUCKET: { exit: 69, retryable: false, summary: 'bucket or container does not exist' },
  STORE_REQUEST_FAILED: { exit: 69, retryable: true, summary: 'store request failed' },
  STORE_REJECTED: { exit: 69, retryable: false, summary: 'store rejected the request' },
  STORE_INVALID_KEY: { exit: 65, retryable: false, summary: 'invalid object key' },
  STORE_CORRUPT: { exit: 65, retryable: false, summary: 'stored object is not the one its metadata describes (damaged or replaced)' },

  CODEC_UNSUPPORTED: { exit: 65, retryable: false, summary: 'unsupported object encoding' },
  CODEC_CORRUPT: { exit: 65, retryable: false, summary: 'object data is corrupt' },
  CODEC_UNAVAILABLE: { exit: 78, retryable: false, summary: "a decoder this installation lacks (a native binding npm left out)" },
  CRYPTO_KEY_INVALID: { exit: 78, retryable: false, summary: 'unusable OpenPGP key' },
  CRYPTO_KEY_MISMATCH: { exit: 77, retryable: false, summary: 'object was encrypted for another key' },
  CRYPTO_NEEDS_PRIVATE_KEY: { exit: 78, retryable: false, summary: 'decryption needs the private key' },
  CRYPTO_INTEGRITY: { exit: 65, retryable: false, summary: 'encrypted object failed its integrity check' },
  CRYPTO_NOT_CONFIGURED: { exit: 78, retryable: false, summary: 'object is encrypted but no key is configured' },

  WAL_BAD_NAME: { exit: 64, retryable: false, summary: 'not a WAL file name' },
  WAL_NOT_A_SEGMENT: { exit: 65, retryable: false, summary: 'file is not a valid WAL segment' },
  WAL_FOREIGN_CLUSTER: { exit: 65, retryable: false, summary: "WAL of another cluster" },
  ARCHIVE_IDENTITY_MISSING: { exit: 65, retryable: false, summary: 'the archive holds WAL or backups (or was archived into) but its cluster identity is missing' },
  WAL_OVERWRITE_CONFLICT: { exit: 73, retryable: false, summary: 'archived WAL file exists with different content (split-brain or corruption suspected)' },
  WAL_INTEGRITY: { exit: 65, retryable: false, summary: 'restored WAL file failed verification' },
  // PostgreSQL takes any restore_command exit below 126 for "not in the
  // archive" and ends recovery there: a store outage would promote the
  // cluster at the wrong point. 126 and above make it stop with FATAL.
  WAL_FETCH_FAILED: { exit: 126, retryable: false, summary: 'WAL could not be restored; recovery must stop rather than end early' },
  // A segment missing while the archive goes on past it (a later segment of
  // its timeline, or a later timeline's history placing its end further on):
  // "not found" would end recovery at the hole, so this stops it instead.
  WAL_ARCHIVE_HOLE: { exit: 126, retryable: false, summary: 'a WAL segment is missing from the middle of the archive; recovery must stop rather than end at the hole' },
  // walship check: PostgreSQL's archiving settings do not send WAL to walship.
  ARCHIVE_MISCONFIGURED: { exit: 78, retryable: false, summary: "PostgreSQL's archive_mode or archive_command does not archive through walship" },
  ARCHIVE_CHECK_TIMEOUT: { exit: 75, retryable: true, summary: 'a switched WAL segment did not reach the store within the check deadline' },
  // wal-verify found segments lost from the archive (status FAILURE): PITR across them is impossible.
  WAL_VERIFY_FAILED: { exit: 65, retryable: false, summary: 'wal-verify found segments missing from the archive, or a timeline the cluster is not on' },
  AGENT_UNAVAILABLE: { exit: 69, retryable: true, summary: 'the walship agent did not answer' },

  PG_UNREACHABLE: { exit: 69, retryable: true, summary: 'PostgreSQL unreachable' },
  PG_BACKUP_FAILED: { exit: 70, retryable: false, summary: 'PostgreSQL refused or failed the backup' },
  BACKUP_WAL_MISSING: { exit: 75, retryable: true, summary: "the WAL a backup needs did not reach the store in time" },
  BACKUP_FOREIGN_CLUSTER: { exit: 65, retryable: false, summary: "backup of another cluster than the archive's" },
  BACKUP_WALG_FORMAT: { exit: 65, retryable: false, summary: "a WAL-G backup walship cannot restore or change" },
  BACKUP_CORRUPT: { exit: 65, retryable: false, summary: 'backup data failed verification' },
  BACKUP_WAL_INCOMPLETE: { exit: 66, retryable: false, summary: 'WAL a backup needs to become consistent is missing from the store' },
  BACKUP_LOCKED: { exit: 75, retryable: true, summary: 'another backup is running' },
  RESTORE_REFUSED: { exit: 73, retryable: false, summary: 'refusing to restore into that directory' },
  DRILL_FAILED: { exit: 65, retryable: false, summary: 'the restore drill did not prove the backup restorable' },
  DRILL_REFUSED: { exit: 73, retryable: false, summary: 'refusing to start a restore drill: over its disk budget, or no PostgreSQL binaries of the backup\'s version' },
  DELETE_REFUSED: { exit: 73, retryable: false, summary: 'refusing to delete: permanent backups, or every backup' },

  IO_FAILED: { exit: 74, retryable: false, summary: 'local file operation failed' },
  INTERNAL: { exit: 70, retryable: false, summary: 'internal error' },
} as const satisfies Record<string, { exit: number; retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof catalogue;

export class WalshipError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly retryable: boolean;
  /** Extra facts for logs: never secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WalshipError';
    this.code = code;
    this.exitCode = catalogue[code].exit;
    this.retryable = catalogue[code].retryable;
    this.details = options.details ?? {};
  }
}

export function isWalshipError(err: unknown, code?: ErrorCode): err is WalshipError {
  return err instanceof WalshipError && (code === undefined || err.code === code);
}

/** The one line an error is reported as, on stderr or in PostgreSQL's log through walship-client. */
export function formatErrorLine(error: WalshipError): string {
  return `walship: ${error.code}: ${error.message}`;
}

/** A local file-system error (ENOSPC, EACCES, ...) as IO_FAILED naming what was being done; other errors as they are. */
export function localIoError(err: unknown, doing: string): unknown {
  const errno = (err as { code?: unknown } | null)?.code;
  if (err instanceof WalshipError || typeof errno !== 'string' || !/^E[A-Z]+$/.test(errno)) return err;
  return new WalshipError('IO_FAILED', `${doing}: ${(err as Error).message}`, { cause: err, details: { errno } });
}

/** Wraps anything thrown into a WalshipError, keeping walship's own errors as they are. */
export function asWalshipError(err: unknown, fallback: ErrorCode = 'INTERNAL'): WalshipError {
  if (err instanceof WalshipError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WalshipError(fallback, message, { cause: err });
}

/** An error as it crosses from a worker thread: structured clone keeps neither the class nor the code. */
export interface TransferredError {
  message: string;
  code?: string;
  details?: Record<string, unknown>;
  syscall?: string;
  path?: string;
}

export function transferableError(err: unknown): TransferredError {
  if (err instanceof WalshipError) return { message: err.message, code: err.code, details: { ...err.details } };
  const e = err as { message?: unknown; code?: unknown; syscall?: unknown; path?: unknown } | null;
  return {
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.syscall === 'string' ? { syscall: e.syscall } : {}),
    ...(typeof e?.path === 'string' ? { path: e.path } : {}),
  };
}

/** The error again on this side: a WalshipError with its code, or a system error with its errno code (for localIoError). */
export function errorFromTransfer(t: TransferredError): Error {
  if (t.code !== undefined && Object.hasOwn(catalogue, t.code)) return new WalshipError(t.code as ErrorCode, t.message, { details: t.details ?? {} });
  return Object.assign(new Error(t.message), { ...(t.code === undefined ? {} : { code: t.code }), ...(t.syscall === undefined ? {} : { syscall: t.syscall }), ...(t.path === undefined ? {} : { path: t.path }) });
}
