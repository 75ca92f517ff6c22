import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { catalogue } from '../errors.ts';

// Every metric walship exports, on one registry of its own (never the
// process-global default, so tests and reloads start clean). Names follow
// Prometheus conventions: walship_ prefix, _total, _seconds, _bytes.

/**
 * prom-client's default gauges whose names end in _total, which Prometheus
 * keeps for counters (`promtool check metrics` reports them). Their
 * per-type gauges (walship_nodejs_active_handles{type} and the others)
 * carry the same counts, summed.
 */
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class WalshipMetrics {
  readonly registry = new Registry();

  readonly archivedSegments = new Counter({ name: 'walship_wal_archived_segments_total', help: 'WAL files stored (uploaded, or found already stored with the same content).', registers: [this.registry] });
  readonly archivedBytes = new Counter({ name: 'walship_wal_archived_bytes_total', help: 'Bytes of WAL stored, before compression.', registers: [this.registry] });
  readonly archiveFailures = new Counter({ name: 'walship_wal_archive_failures_total', help: 'wal-push requests that failed, by error code; every code is exported at 0 from the start.', labelNames: ['code'], registers: [this.registry] });
  readonly lastArchived = new Gauge({ name: 'walship_wal_last_archived_timestamp_seconds', help: 'When the last WAL file was stored (Unix time).', registers: [this.registry] });
  readonly lastArchiveFailure = new Gauge({ name: 'walship_wal_last_archive_failure_timestamp_seconds', help: 'When wal-push last failed (Unix time); 0 if never.', registers: [this.registry] });
  readonly secondsSinceArchive = new Gauge({ name: 'walship_wal_seconds_since_last_archive', help: 'Seconds since the last WAL file was stored; -1 if none since start.', registers: [this.registry] });
  readonly secondsSinceFailure = new Gauge({ name: 'walship_wal_seconds_since_last_archive_failure', help: 'Seconds since wal-push last failed; -1 if never since start.', registers: [this.registry] });
  readonly readySegments = new Gauge({ name: 'walship_wal_ready_segments', help: 'Segments PostgreSQL marked ready and not yet archived (pg_wal/archive_status/*.ready).', registers: [this.registry] });
  readonly pushDuration = new Histogram({ name: 'walship_wal_push_duration_seconds', help: 'wal-push request latency as PostgreSQL waits for it.', buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly fetchDuration = new Histogram({ name: 'walship_wal_fetch_duration_seconds', help: 'wal-fetch request latency as recovery waits for it.', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly prefetchHits = new Counter({ name: 'walship_wal_prefetch_hits_total', help: 'wal-fetch requests answered from the prefetch directory.', registers: [this.registry] });
  readonly prefetchMisses = new Counter({ name: 'walship_wal_prefetch_misses_total', help: 'wal-fetch requests for segments that had not been prefetched.', registers: [this.registry] });
  readonly newestArchivedLsn = new Gauge({ name: 'walship_wal_newest_archived_lsn_bytes', help: 'End position of the newest archived segment, as a byte offset in the WAL stream.', registers: [this.registry] });

  readonly lastBackup = new Gauge({ name: 'walship_backup_last_success_timestamp_seconds', help: 'When the newest complete backup in the store finished (Unix time), by type, whoever took it; absent while the store holds none.', labelNames: ['type'], registers: [this.registry] });
  readonly lastBackupDuration = new Gauge({ name: 'walship_backup_last_duration_seconds', help: 'Duration of the last successful backup.', registers: [this.registry] });
  readonly lastBackupSize = new Gauge({ name: 'walship_backup_last_size_bytes', help: 'Size of the last successful backup: data read, and bytes stored.', labelNames: ['kind'], registers: [this.registry] });
  readonly backupFailures = new Counter({ name: 'walship_backup_failures_total', help: 'Backups that failed, by error code; every code is exported at 0 from the start.', labelNames: ['code'], registers: [this.registry] });
  readonly backupProgress = new Gauge({ name: 'walship_backup_progress_bytes', help: 'Bytes read by the backup under way (0 when none runs).', registers: [this.registry] });
  readonly backupCount = new Gauge({ name: 'walship_backups', help: "Complete backups in the store, read from the store's catalogue (at start-up, periodically, and after each backup and retention).", registers: [this.registry] });
  readonly firstRecoverability = new Gauge({ name: 'walship_recovery_first_point_timestamp_seconds', help: 'The oldest point in time the archive can restore to: the finish time of the oldest complete backup in the store; 0 if none.', registers: [this.registry] });

  readonly drillLastSuccess = new Gauge({ name: 'walship_drill_last_success_timestamp_seconds', help: "When this agent's last successful restore drill finished (Unix time); 0 if none since start.", registers: [this.registry] });
  readonly drillLastFailure = new Gauge({ name: 'walship_drill_last_failure_timestamp_seconds', help: "When this agent's last restore drill failed or was refused (Unix time); 0 if none since start.", registers: [this.registry] });
  readonly drillLastRpo = new Gauge({ name: 'walship_drill_last_rpo_seconds', help: 'The RPO the last successful drill proved: how old the point it recovered to was when it finished.', registers: [this.registry] });
  readonly drillLastDuration = new Gauge({ name: 'walship_drill_last_duration_seconds', help: 'How long the last successful drill took, by phase: restore (backup-fetch), recovery (start to accepting queries); their sum is the proven RTO.', labelNames: ['phase'], registers: [this.registry] });
  readonly drillFailures = new Counter({ name: 'walship_drill_failures_total', help: 'Restore drills that failed or were refused, by error code; every code is exported at 0 from the start.', labelNames: ['code'], registers: [this.registry] });
  readonly drillScheduled = new Gauge({ name: 'walship_drill_scheduled', help: '1 if this agent runs restore drills on WALSHIP_DRILL_SCHEDULE: the drill alerts watch only agents that do.', registers: [this.registry] });
  readonly drillRunning = new Gauge({ name: 'walship_drill_running', help: '1 while a restore drill runs.', registers: [this.registry] });

  readonly storageDuration = new Histogram({ name: 'walship_storage_operation_duration_seconds', help: 'Store call latency, by operation and store.', labelNames: ['op', 'store'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly storageErrors = new Counter({ name: 'walship_storage_operation_errors_total', help: 'Store calls that failed, by operation, store and error code.', labelNames: ['op', 'store', 'code'], registers: [this.registry] });
  readonly storeUp = new Gauge({ name: 'walship_store_up', help: '1 if the last store health check succeeded.', registers: [this.registry] });
  readonly postgresUp = new Gauge({ name: 'walship_postgres_up', help: '1 if the last PostgreSQL health check succeeded.', registers: [this.registry] });

  readonly checkOk = new Gauge({ name: 'walship_check_ok', help: "The agent's start-up check (walship check's steps), by step: 1 passed or skipped, 0 failed; the steps after a failure are absent, and the check is retried every WALSHIP_HEALTH_INTERVAL until it passes.", labelNames: ['step'], registers: [this.registry] });
  // Absent until the first wal-verify: a 0 before any check would fire the alerts.
  readonly walIntegrityOk = new Gauge({ name: 'walship_wal_integrity_ok', help: 'wal-verify integrity, run by the agent every WALSHIP_WAL_VERIFY_INTERVAL: 1 when every segment from the oldest backup to the cluster\'s position is in the store, or missing only at the newest end (status OK or WARNING); 0 when segments are lost from the middle (FAILURE). Absent until the first run.', registers: [] });
  readonly walFirstMissing = new Gauge({ name: 'walship_wal_first_missing_lsn_bytes', help: 'Where the first segment lost from the archive (MISSING_LOST) starts, as a byte offset in the WAL stream (the LSN); 0 when none is lost. Absent until the first wal-verify.', registers: [] });
  readonly walTimelineOk = new Gauge({ name: 'walship_wal_timeline_ok', help: "wal-verify timeline: 1 when the archive's highest timeline is the cluster's, 0 when not. Absent until the first run.", registers: [] });
  readonly walGapUnfilled = new Gauge({ name: 'walship_wal_gap_unfilled_segments', help: "Segments lost from the archive that the agent could not upload from the local pg_wal (after a failover, WAL the old primary never archived): PITR across them is impossible until a new backup is taken. Absent until the first gap check.", registers: [] });
  readonly walGapFilled = new Counter({ name: 'walship_wal_gap_filled_files_total', help: 'Segments and .history files missing from the archive that the agent found in the local pg_wal and uploaded.', registers: [this.registry] });

  private readonly registeredLate = new Set<Gauge>();
  private lastArchivedAt: number | undefined;
  private lastFailureAt: number | undefined;
  private newestLsn = 0;
  private readonly readyCollector: (() => Promise<number>) | undefined;

  constructor(collectors: { readySegments?: () => Promise<number> } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'walship_' });
    for (const name of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(`walship_${name}`);
    // Every code at 0 from the start: increase() needs a sample before the
    // first failure, or an alert on it misses the first one after each start.
    for (const code of Object.keys(catalogue)) {
      this.archiveFailures.inc({ code }, 0);
      this.backupFailures.inc({ code }, 0);
      this.drillFailures.inc({ code }, 0);
    }
    this.drillLastSuccess.set(0);
    this.drillLastFailure.set(0);
    this.drillRunning.set(0);
    this.lastArchiveFailure.set(0);
    this.secondsSinceArchive.set(-1);
    this.secondsSinceFailure.set(-1);
    this.readyCollector = collectors.readySegments;
  }

  recordArchived(bytes: number, segmentEndLsn?: bigint): void {
    this.lastArchivedAt = Date.now();
    this.archivedSegments.inc();
    this.archivedBytes.inc(bytes);
    this.lastArchived.set(this.lastArchivedAt / 1000);
    if (segmentEndLsn !== undefined && Number(segmentEndLsn) > this.newestLsn) {
      this.newestLsn = Number(segmentEndLsn);
      this.newestArchivedLsn.set(this.newestLsn);
    }
  }

  recordDrillSuccess(rpoSeconds: number, restoreSeconds: number, recoverySeconds: number): void {
    this.drillLastSuccess.set(Date.now() / 1000);
    this.drillLastRpo.set(rpoSeconds);
    this.drillLastDuration.set({ phase: 'restore' }, restoreSeconds);
    this.drillLastDuration.set({ phase: 'recovery' }, recoverySeconds);
  }

  recordDrillFailure(code: string): void {
    this.drillLastFailure.set(Date.now() / 1000);
    this.drillFailures.inc({ code });
  }

  recordArchiveFailure(code: string): void {
    this.lastFailureAt = Date.now();
    this.archiveFailures.inc({ code });
    this.lastArchiveFailure.set(this.lastFailureAt / 1000);
  }

  /** The last archive attempt failed, and no success since: /readyz reports it. */
  archivingFailing(): boolean {
    return this.lastFailureAt !== undefined && (this.lastArchivedAt === undefined || this.lastFailureAt > this.lastArchivedAt);
  }

  /** Registers the gauges absent until first set, for the metrics reference (which lists every metric). */
  registerEveryMetric(): this {
    for (const g of [this.walIntegrityOk, this.walFirstMissing, this.walTimelineOk, this.walGapUnfilled]) {
      if (!this.registeredLate.has(g)) {
        this.registry.registerMetric(g);
        this.registeredLate.add(g);
      }
    }
    return this;
  }

  /** Sets a gauge that stays absent until it first has a value. */
  setLate(gauge: Gauge, value: number): void {
    if (!this.registeredLate.has(gauge)) {
      this.registry.registerMetric(gauge);
      this.registeredLate.add(gauge);
    }
    gauge.set(value);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    // Ages are computed at scrape time, so they keep growing while nothing happens.
    const now = Date.now();
    this.secondsSinceArchive.set(this.lastArchivedAt === undefined ? -1 : (now - this.lastArchivedAt) / 1000);
    this.secondsSinceFailure.set(this.lastFailureAt === undefined ? -1 : (now - this.lastFailureAt) / 1000);
    if (this.readyCollector) this.readySegments.set(await this.readyCollector().catch(() => 0));
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
