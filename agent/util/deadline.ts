import type { WalshipError } from '../errors.ts';

/** After the deadline, how long the work gets to unwind (abort its requests, remove its temporary files). */
const UNWIND_MS = 1000;

/**
 * Runs work under one overall deadline. When it passes, the work's signal
 * aborts with the error `expired` makes, and the call rejects with that
 * error once the work has unwound, or UNWIND_MS later if it ignores its
 * signal. Work that finishes after the deadline still fails: whoever waited
 * has been told it did not happen in time, and the answer must not change.
 */
export async function withDeadline<T>(ms: number, expired: () => WalshipError, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let late: WalshipError | undefined;
  let unwound: NodeJS.Timeout | undefined;
  const running = work(controller.signal);
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        late = expired();
        controller.abort(late);
        unwound = setTimeout(() => reject(late), UNWIND_MS);
      }, ms);
      running.then(
        (value) => (clearTimeout(timer), late === undefined ? resolve(value) : reject(late)),
        (err: unknown) => (clearTimeout(timer), reject(late ?? err)),
      );
    });
  } finally {
    clearTimeout(unwound);
  }
}
