// Runs a few asynchronous jobs at once (lz4-napi works on libuv's thread
// pool, so two frames compress in parallel on two cores) while handing their
// results back strictly in submission order, which the byte stream needs.

import { WalshipError } from '../errors.ts';

export class OrderedJobs<T> {
  readonly #pending: Promise<T>[] = [];
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#pending.length;
  }

  get full(): boolean {
    return this.#pending.length >= this.#limit;
  }

  add(job: Promise<T>): void {
    // The rejection is observed when the job's turn comes in next(); until
    // then this keeps Node from reporting it as unhandled.
    job.catch(() => undefined);
    this.#pending.push(job);
  }

  /** Result of the oldest job; rejects with its error. */
  next(): Promise<T> {
    const job = this.#pending.shift();
    if (job === undefined) throw new WalshipError('INTERNAL', 'OrderedJobs.next() with no job pending');
    return job;
  }
}
