import { runCheck, type CheckStepResult } from '../check/run-check.ts';
import type { Config } from '../config/types.ts';
import { asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StorageDriver } from '../storage/driver.ts';
import type { WalshipMetrics } from './metrics.ts';

// walship check's steps, run by the agent at start-up and reported on
// /readyz and as walship_check_ok{step}. PostgreSQL often starts after its
// sidecar, so a failed run is tried again every interval until one passes;
// then the periodic health checks (store, PostgreSQL, archiving) carry on.
// The agent forces no WAL switch: a pod restart would otherwise archive a
// mostly empty segment each time, and /readyz's archiving check follows
// every real wal-push anyway.

export class StartupCheck {
  private readonly config: Config;
  private readonly store: StorageDriver;
  private readonly metrics: WalshipMetrics;
  private readonly log: Logger;
  private results: CheckStepResult[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(config: Config, store: StorageDriver, metrics: WalshipMetrics, log: Logger) {
    this.config = config;
    this.store = store;
    this.metrics = metrics;
    this.log = log;
  }

  start(retryMs: number): void {
    const tick = () => {
      this.running ??= this.run().finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(() => (this.passed() ? clearInterval(this.timer) : tick()), retryMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  passed(): boolean {
    return this.results !== undefined && this.results.every((r) => r.status !== 'failed');
  }

  /** For /readyz: ok once a run passed; else the failed step and its cause. */
  view(): { ok: boolean; detail?: string } {
    if (this.results === undefined) return { ok: false, detail: 'start-up check not run yet' };
    const failed = this.results.find((r) => r.status === 'failed');
    return failed ? { ok: false, detail: `${failed.step}: ${failed.detail}` } : { ok: true };
  }

  private async run(): Promise<void> {
    let results: CheckStepResult[];
    try {
      // Without PGHOST or PGDATA the agent serves only the store: PostgreSQL's steps are skipped.
      const withPg = this.config.pg.host !== undefined || this.config.pg.pgdata !== undefined;
      results = await runCheck(this.config, this.store, { switchWal: false, postgres: withPg });
    } catch (err) {
      results = [{ step: 'config', status: 'failed', detail: asWalshipError(err).message, code: asWalshipError(err).code, ms: 0 }];
    }
    const before = this.view();
    this.results = results;
    this.metrics.checkOk.reset();
    for (const r of results) this.metrics.checkOk.set({ step: r.step }, r.status === 'failed' ? 0 : 1);
    const failed = results.find((r) => r.status === 'failed');
    if (failed) {
      if (before.detail !== `${failed.step}: ${failed.detail}`) this.log.warn({ step: failed.step, code: failed.code }, `start-up check failed at ${failed.step}: ${failed.detail}`);
    } else {
      this.log.info({ steps: results.map((r) => `${r.step}: ${r.status}`) }, 'start-up check passed');
    }
  }
}
