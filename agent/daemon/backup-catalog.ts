import { listBackups } from '../backup/catalog.ts';
import type { BackupSentinel } from '../backup/manifest.ts';
import { asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StorageDriver } from '../storage/driver.ts';
import type { WalshipMetrics } from './metrics.ts';

// The catalogue metrics (how many backups, the newest one's finish, the
// oldest point the archive restores to) as the store has them, whoever
// took the backups: this agent on its schedule, a hand-run backup-push, or
// another pod. Read at start-up and periodically, whatever the schedule (a
// schedule of 'off', or a cluster paused in an archive recovery, takes no
// backups of its own, and the alerts must still see the store's).

export class BackupCatalog {
  private readonly store: StorageDriver;
  private readonly metrics: WalshipMetrics;
  private readonly log: Logger;
  private running: Promise<BackupSentinel[]> | undefined;
  private next: Promise<BackupSentinel[]> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(store: StorageDriver, metrics: WalshipMetrics, log: Logger) {
    this.store = store;
    this.metrics = metrics;
    this.log = log;
  }

  /** Reads now and then every `intervalMs`; a failed read is logged and keeps the last values. */
  start(intervalMs: number): void {
    const tick = () => void this.refreshOrWarn();
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic reads and waits for one under way (the store is closed next). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.next?.catch(() => undefined);
    await this.running?.catch(() => undefined);
  }

  /** As refresh(), for callers that carry on whatever happens: a failure is logged, and the last values stay. */
  async refreshOrWarn(): Promise<void> {
    await this.refresh().catch((err: unknown) => this.log.warn({ code: asWalshipError(err).code }, `reading the backup catalogue failed: ${asWalshipError(err).message}`));
  }

  /**
   * Reads the store's complete backups and sets the metrics from them. One
   * read at a time: a call during a read gets the next one, which starts
   * after it (a read begun before a backup finished would miss it), and
   * calls waiting for the same next read share it.
   */
  refresh(): Promise<BackupSentinel[]> {
    this.next ??= (this.running ?? Promise.resolve([])).catch(() => []).then(() => {
      this.next = undefined;
      this.running = this.read().finally(() => (this.running = undefined));
      return this.running;
    });
    return this.next;
  }

  private async read(): Promise<BackupSentinel[]> {
    const backups = await listBackups(this.store);
    const finishes = backups.map((b) => Date.parse(b.finishTime) / 1000).filter((t) => Number.isFinite(t));
    this.metrics.backupCount.set(backups.length);
    if (finishes.length === 0) {
      // No backup: the last-success series goes, rather than claim one at 1970.
      this.metrics.lastBackup.reset();
      this.metrics.firstRecoverability.set(0);
    } else {
      this.metrics.lastBackup.set({ type: 'full' }, Math.max(...finishes));
      this.metrics.firstRecoverability.set(Math.min(...finishes));
    }
    return backups;
  }
}
