import { WalshipError, asWalshipError } from '../errors.ts';

/**
 * What restore_command reports for anything but "not in the archive": the
 * cause, under a code whose exit status makes PostgreSQL stop recovery
 * instead of taking the failure for the end of the archive and promoting
 * the cluster at the wrong point in time.
 */
export function fetchFailure(name: string, err: unknown): WalshipError {
  const cause = asWalshipError(err);
  if (cause.code === 'WAL_BAD_NAME' || cause.code === 'WAL_FETCH_FAILED' || cause.code === 'WAL_ARCHIVE_HOLE') return cause;
  return new WalshipError('WAL_FETCH_FAILED', `could not restore ${name}: ${cause.code}: ${cause.message}`, {
    cause,
    details: { name, cause: cause.code },
  });
}
