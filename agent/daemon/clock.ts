import { setTimeout as sleep } from 'node:timers/promises';

/** Time, injectable: the scheduler's tests run a day of cron in milliseconds. */
export interface Clock {
  now(): Date;
  /** Resolves after ms, or rejects when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : {}),
};
