import { Cron } from 'croner';
import { WalshipError } from '../errors.ts';
import type { Clock } from './clock.ts';

// Backups on a cron schedule (5 fields, or 6 with seconds first), in UTC,
// one at a time: a run that outlasts its interval skips the times it missed
// instead of piling up behind itself.

/** what: the schedule's name in the error, e.g. 'backup schedule' or 'WALSHIP_DRILL_SCHEDULE'. */
export function parseSchedule(expression: string, what = 'backup schedule'): Cron {
  try {
    return new Cron(expression, { paused: true, timezone: 'UTC' });
  } catch (err) {
    throw new WalshipError('CONFIG_INVALID', `${what} ${JSON.stringify(expression)}: ${(err as Error).message}`);
  }
}

export interface SchedulerOptions {
  cron: Cron;
  clock: Clock;
  run: () => Promise<void>;
  onError?: (err: unknown) => void;
  onNext?: (at: Date) => void;
}

export class Scheduler {
  private readonly options: SchedulerOptions;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    this.options = options;
  }

  start(): void {
    this.loop = this.runLoop();
  }

  /** Stops waiting; a run under way finishes first. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async runLoop(): Promise<void> {
    const { cron, clock } = this.options;
    while (!this.stopping.signal.aborted) {
      const next = cron.nextRun(clock.now());
      if (!next) return;
      this.options.onNext?.(next);
      try {
        await clock.sleep(Math.max(0, next.getTime() - clock.now().getTime()), this.stopping.signal);
      } catch {
        return;
      }
      try {
        await this.options.run();
      } catch (err) {
        this.options.onError?.(err);
      }
    }
  }
}
