import { WalshipError } from '../errors.ts';
import { withDeadline } from '../util/deadline.ts';

// archive_command and restore_command calls each get one overall deadline,
// beside the per-attempt deadlines of the store wrapper: a store that takes
// connections and never answers would otherwise hold every call for all its
// attempts (five of 30 s by default), and PostgreSQL waits for each one.

/** A wal-push past WALSHIP_PUSH_TIMEOUT: a retryable failure, which PostgreSQL's archiver retries. */
export function pushExpired(name: string, ms: number): WalshipError {
  return new WalshipError('STORE_TIMEOUT', `wal-push ${name}: not archived within ${ms} ms (WALSHIP_PUSH_TIMEOUT); the store calls under way were aborted, and PostgreSQL will try again`, {
    details: { name, timeoutMs: ms },
  });
}

/** A wal-fetch past WALSHIP_FETCH_TIMEOUT: not "not found", which would end recovery early, but a failure that stops it. */
export function fetchExpired(name: string, ms: number): WalshipError {
  return new WalshipError('WAL_FETCH_FAILED', `could not restore ${name}: no answer from the store within ${ms} ms (WALSHIP_FETCH_TIMEOUT); nothing was written to its destination`, {
    details: { name, timeoutMs: ms, cause: 'STORE_TIMEOUT' },
  });
}

export function pushWithin<T>(name: string, ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return withDeadline(ms, () => pushExpired(name, ms), work);
}

export function fetchWithin<T>(name: string, ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return withDeadline(ms, () => fetchExpired(name, ms), work);
}
