import type { Config } from '../config/types.ts';
import { restoreDrill, type DrillHost } from '../drill/run.ts';
import { asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { WalArchive } from '../wal/push.ts';
import type { BackupJob } from './backup-job.ts';
import type { WalshipMetrics } from './metrics.ts';

// Restore drills on the agent's WALSHIP_DRILL_SCHEDULE: one at a time, and
// never while this agent takes a backup (restore-drill itself also stays
// out of a backup another process runs, by the store's backup lock).
// Every outcome lands in metrics, so that an alert, not a person, notices
// when backups stop being proven restorable.

export class DrillJob {
  readonly #config: Config;
  readonly #archive: WalArchive;
  readonly #host: DrillHost;
  readonly #log: Logger;
  readonly #metrics: WalshipMetrics;
  readonly #backups: BackupJob | undefined;
  #running: Promise<void> | undefined;
  readonly #stopping = new AbortController();

  constructor(config: Config, archive: WalArchive, host: DrillHost, log: Logger, metrics: WalshipMetrics, backups: BackupJob | undefined) {
    this.#config = config;
    this.#archive = archive;
    this.#host = host;
    this.#log = log;
    this.#metrics = metrics;
    this.#backups = backups;
  }

  /** Ends a drill under way as soon as it can (its server stopped, its directory deleted), and waits for it. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
  }

  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Runs a drill now, unless one is running or a backup is: then this one is skipped, not queued. */
  run(reason: string): Promise<void> {
    if (this.#stopping.signal.aborted) return Promise.resolve();
    if (this.#running) {
      this.#log.warn({ reason }, 'restore drill skipped: the previous one is still running');
      return this.#running;
    }
    if (this.#backups?.busy) {
      this.#log.warn({ reason }, 'restore drill skipped: a backup is running');
      return Promise.resolve();
    }
    this.#running = this.#drill(reason).finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #drill(reason: string): Promise<void> {
    this.#log.info({ reason }, 'restore drill starting');
    this.#metrics.drillRunning.set(1);
    try {
      const report = await restoreDrill(this.#config, this.#archive, this.#host, { backup: 'LATEST', amcheck: false, signal: this.#stopping.signal }, this.#log);
      // Cut short by the agent's stop (or a reload): not a finding about the backup.
      if (this.#stopping.signal.aborted) return;
      if (report.failure) {
        this.#metrics.recordDrillFailure(report.failure.code);
        return;
      }
      this.#metrics.recordDrillSuccess(report.rpoSeconds ?? 0, report.restoreSeconds ?? 0, report.recoverySeconds ?? 0);
    } catch (err) {
      // Refused before it started (budget, binaries, a lock): a failure to prove, all the same.
      const e = asWalshipError(err);
      this.#metrics.recordDrillFailure(e.code);
      this.#log.error({ code: e.code, reason }, `restore drill failed: ${e.message}`);
    } finally {
      this.#metrics.drillRunning.set(0);
    }
  }
}
