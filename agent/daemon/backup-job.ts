import { acquireBackupLock } from '../backup/lock.ts';
import type { BackupSentinel } from '../backup/manifest.ts';
import { backupPush } from '../backup/push.ts';
import type { Config } from '../config/types.ts';
import { asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { connectPg } from '../pg/connection.ts';
import { readRecoverySignals } from '../pg/recovery-signals.ts';
import type { WalArchive } from '../wal/push.ts';
import type { BackupCatalog } from './backup-catalog.ts';
import type { Clock } from './clock.ts';
import type { WalshipMetrics } from './metrics.ts';

// One scheduled backup as the agent runs it: wait until PostgreSQL answers,
// take the store's backup lock, back up, apply retention, and keep the
// metrics that alerts read up to date.

/** How often a wait for the end of an archive recovery looks at the signal files. */
const RECOVERY_POLL_MS = 2000;

export type AfterBackup = (sentinel: BackupSentinel) => Promise<void>;

export class BackupJob {
  private readonly config: Config;
  private readonly archive: WalArchive;
  private readonly log: Logger;
  private readonly metrics: WalshipMetrics;
  private readonly clock: Clock;
  private readonly after: AfterBackup | undefined;
  private readonly catalog: BackupCatalog;
  private running: Promise<void> | undefined;

  constructor(config: Config, archive: WalArchive, log: Logger, metrics: WalshipMetrics, clock: Clock, catalog: BackupCatalog, after?: AfterBackup) {
    this.config = config;
    this.archive = archive;
    this.log = log;
    this.metrics = metrics;
    this.clock = clock;
    this.after = after;
    this.catalog = catalog;
  }

  /**
   * Waits, with backoff, until PostgreSQL accepts a connection and is not in
   * an archive recovery (a restore to a point in time, a clone): a backup
   * taken then would be of a cluster about to change timeline, and fail when
   * it does. False if `signal` aborts first.
   */
  async waitForPostgres(signal: AbortSignal): Promise<boolean> {
    let delay = 1000;
    let saidRecovering = false;
    while (!signal.aborted) {
      if (this.archiveRecoveryPending()) {
        // Two file checks a poll: cheap enough to notice the promotion within seconds, said once.
        if (!saidRecovering) this.log.info('waiting for the archive recovery (recovery.signal) to end before backing up');
        saidRecovering = true;
        await this.clock.sleep(RECOVERY_POLL_MS, signal).catch(() => undefined);
        continue;
      }
      try {
        const client = await connectPg(this.config.pg, 5_000);
        await client.end();
        return true;
      } catch (err) {
        this.log.info({ retryInMs: delay, err: asWalshipError(err).message }, 'waiting for PostgreSQL before backing up');
        await this.clock.sleep(delay, signal).catch(() => undefined);
        delay = Math.min(delay * 2, 60_000);
      }
    }
    return false;
  }

  private archiveRecoveryPending(): boolean {
    return this.config.pg.pgdata !== undefined && readRecoverySignals(this.config.pg.pgdata).archiveRecovery;
  }

  /** A backup of this agent's is under way. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Runs a backup now unless one of this agent's is already running (then waits for that one). */
  run(reason: string): Promise<void> {
    this.running ??= this.backup(reason).finally(() => (this.running = undefined));
    return this.running;
  }

  private async backup(reason: string): Promise<void> {
    const pgdata = this.config.pg.pgdata!;
    if (this.archiveRecoveryPending()) {
      this.log.warn({ reason }, 'backup skipped: PostgreSQL is in an archive recovery (recovery.signal); the next one is taken on schedule after it ends');
      return;
    }
    const started = Date.now();
    this.log.info({ reason }, 'backup starting');
    try {
      const lock = await acquireBackupLock(this.archive.store);
      let sentinel: BackupSentinel;
      try {
        sentinel = await backupPush(
          this.config,
          this.archive,
          {
            pgdata,
            permanent: false,
            verify: false,
            partBytes: this.config.backup.partBytes,
            walTimeoutMs: this.config.backup.walTimeoutMs,
            onProgress: (done) => this.metrics.backupProgress.set(done),
          },
          this.log,
        );
      } finally {
        this.metrics.backupProgress.set(0);
        await lock.release();
      }
      this.metrics.lastBackupDuration.set((Date.now() - started) / 1000);
      this.metrics.lastBackupSize.set({ kind: 'data' }, sentinel.dataBytes);
      this.metrics.lastBackupSize.set({ kind: 'stored' }, sentinel.storedBytes);
      await this.after?.(sentinel);
      // The new backup, and what retention deleted, in the catalogue metrics
      // at once. A failed read is not a failed backup: the next one catches up.
      await this.catalog.refreshOrWarn();
    } catch (err) {
      const e = asWalshipError(err);
      this.metrics.backupFailures.inc({ code: e.code });
      this.log.error({ code: e.code, reason }, `backup failed: ${e.message}`);
    }
  }
}
