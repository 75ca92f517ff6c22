import type { PgConnectionConfig } from '../config/types.ts';
import { asWalshipError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { connectPg } from '../pg/connection.ts';
import type { WalshipMetrics } from './metrics.ts';
import type { StartupCheck } from './startup-check.ts';

// Readiness, checked in the background and cached, so a probe is answered
// at once and a slow store never makes Kubernetes' probe itself time out.

export interface HealthReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string; checkedAt?: string }>;
}

export class HealthChecker {
  private readonly store: StorageDriver;
  private readonly pg: PgConnectionConfig | undefined;
  private readonly metrics: WalshipMetrics;
  private storeCheck: { ok: boolean; detail?: string; at: number } | undefined;
  private pgCheck: { ok: boolean; detail?: string; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private readonly startup: StartupCheck | undefined;

  constructor(store: StorageDriver, pg: PgConnectionConfig | undefined, metrics: WalshipMetrics, startup?: StartupCheck) {
    this.store = store;
    this.pg = pg;
    this.metrics = metrics;
    this.startup = startup;
  }

  start(intervalMs: number): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Runs both checks now (one at a time). */
  check(): Promise<void> {
    this.running ??= this.runChecks().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runChecks(): Promise<void> {
    try {
      await this.store.listPage('', { pageSize: 1 });
      this.storeCheck = { ok: true, at: Date.now() };
    } catch (err) {
      this.storeCheck = { ok: false, detail: asWalshipError(err).message, at: Date.now() };
    }
    this.metrics.storeUp.set(this.storeCheck.ok ? 1 : 0);
    if (this.pg) {
      try {
        const client = await connectPg(this.pg, 5_000);
        try {
          await client.query('select 1');
        } finally {
          await client.end().catch(() => undefined);
        }
        this.pgCheck = { ok: true, at: Date.now() };
      } catch (err) {
        this.pgCheck = { ok: false, detail: asWalshipError(err).message, at: Date.now() };
      }
      this.metrics.postgresUp.set(this.pgCheck.ok ? 1 : 0);
    }
  }

  report(): HealthReport {
    const view = (c: { ok: boolean; detail?: string; at: number } | undefined, name: string) =>
      c ? { ok: c.ok, ...(c.detail ? { detail: c.detail } : {}), checkedAt: new Date(c.at).toISOString() } : { ok: false, detail: `${name} not checked yet` };
    const checks: HealthReport['checks'] = { store: view(this.storeCheck, 'store') };
    if (this.pg) checks.postgres = view(this.pgCheck, 'PostgreSQL');
    // walship check's steps, as the agent ran them at start-up.
    if (this.startup) checks.startup = this.startup.view();
    const failing = this.metrics.archivingFailing();
    checks.archiving = failing ? { ok: false, detail: 'the last wal-push failed and none has succeeded since' } : { ok: true };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}
