import { readRecoverySignals } from '../pg/recovery-signals.ts';
import { stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve, sep } from 'node:path';
import type { Config } from '../config/types.ts';
import { WalshipError, asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { openWalArchive } from '../wal/archive.ts';
import { SegmentFollower } from '../wal/segment-follower.ts';
import { WalPrefetcher } from '../wal/prefetch.ts';
import { pushWalFile } from '../wal/push.ts';
import { holeWarning } from '../wal/archive-hole.ts';
import { fetchWithin, pushWithin } from '../wal/deadlines.ts';
import { fetchFailure } from '../wal/fetch-failure.ts';
import { holeAnswer } from '../wal/hole-policy.ts';
import { NO_CHECKSUM_WARNING } from '../wal/fetch.ts';
import { parseWalFileName } from '../wal/names.ts';
import type { WalshipMetrics } from './metrics.ts';
import type { WalArchive } from '../wal/push.ts';
import { BackupJob, type AfterBackup } from './backup-job.ts';
import { DrillJob } from './drill-job.ts';
import type { DrillHost } from '../drill/run.ts';
import { BackupCatalog } from './backup-catalog.ts';
import { WalVerifier } from './wal-verifier.ts';
import { retainAfterBackup } from '../backup/retention.ts';
import { systemClock, type Clock } from './clock.ts';
import { Scheduler, parseSchedule } from './schedule.ts';
import { UploadAhead } from '../wal/upload-ahead.ts';
import { startSpoolServer, type SpoolRequest, type SpoolResponse } from './spool/server.ts';

// The sidecar's long-running process: it answers walship-client's
// archive and restore requests from one warm process (no start-up cost per
// segment), uploads ready segments ahead of the archiver, and prefetches
// segments ahead of recovery.

export interface RunningAgent {
  readonly uploads: UploadAhead | undefined;
  readonly backups: BackupJob | undefined;
  readonly prefetcher: WalPrefetcher;
  /** Stops taking requests and waits for the work under way. */
  stop(): Promise<void>;
}

/** Who owns the data directory: files the agent writes there must be theirs, even when it runs as root. */
async function dataOwner(pgdata: string | undefined): Promise<{ uid: number; gid: number } | undefined> {
  if (pgdata === undefined || process.getuid?.() !== 0) return undefined;
  const st = await stat(pgdata).catch(() => undefined);
  return st ? { uid: st.uid, gid: st.gid } : undefined;
}

/** Where a WAL file ends in the WAL stream, for the newest-archived-LSN metric. */
function segmentEnd(name: string, segmentSize = 16 * 1024 * 1024): bigint | undefined {
  try {
    const file = parseWalFileName(name, segmentSize);
    return file.kind === 'segment' ? (file.segNo! + 1n) * BigInt(segmentSize) : undefined;
  } catch {
    return undefined;
  }
}

export interface AgentExtras {
  clock?: Clock;
  /** What restore drills run with (this executable, PATH, the environment); without it, WALSHIP_DRILL_SCHEDULE cannot be honoured. */
  drillHost?: DrillHost;
  /** Runs after each successful scheduled backup: retention. */
  afterBackup?: AfterBackup;
}

/** Scheduled backups, and a first one at once when the archive has none. */
function startBackups(config: Config, archive: WalArchive, log: Logger, metrics: WalshipMetrics, catalog: BackupCatalog, extras: AgentExtras): { job: BackupJob; stop(): Promise<void> } | undefined {
  if (config.backup.schedule === 'off' || config.pg.pgdata === undefined) {
    if (config.pg.pgdata === undefined) log.warn('PGDATA is not set: the agent takes no backups');
    return undefined;
  }
  const clock = extras.clock ?? systemClock;
  // Retention after each backup; its failure is logged as such and does not undo the backup.
  const retention: AfterBackup = async () => {
    try {
      await retainAfterBackup(archive.store, config.retention, log);
    } catch (err) {
      log.error({ code: asWalshipError(err).code }, `retention failed: ${asWalshipError(err).message}`);
    }
  };
  const job = new BackupJob(config, archive, log, metrics, clock, catalog, extras.afterBackup ?? retention);
  const scheduler = new Scheduler({
    cron: parseSchedule(config.backup.schedule),
    clock,
    run: () => job.run('schedule'),
    onNext: (at) => log.info({ at: at.toISOString() }, 'next scheduled backup'),
  });
  const stopping = new AbortController();
  const first = (async () => {
    if (!(await job.waitForPostgres(stopping.signal))) return;
    const backups = await catalog.refresh().catch(() => undefined);
    if (backups && backups.length === 0) await job.run('the archive has no backup yet');
  })().catch((err: unknown) => log.error({ err: asWalshipError(err).message }, 'first backup check failed'));
  scheduler.start();
  return {
    job,
    async stop() {
      stopping.abort();
      await scheduler.stop();
      await first;
    },
  };
}

/** Restore drills on WALSHIP_DRILL_SCHEDULE (off by default). */
function startDrills(config: Config, archive: WalArchive, log: Logger, metrics: WalshipMetrics, backups: BackupJob | undefined, extras: AgentExtras): { stop(): Promise<void> } | undefined {
  if (config.drill.schedule === 'off') return undefined;
  if (extras.drillHost === undefined) {
    log.warn('WALSHIP_DRILL_SCHEDULE is set, but this agent was started without what a drill needs: no restore drills');
    return undefined;
  }
  const job = new DrillJob(config, archive, extras.drillHost, log, metrics, backups);
  const scheduler = new Scheduler({
    cron: parseSchedule(config.drill.schedule, 'restore drill schedule (WALSHIP_DRILL_SCHEDULE)'),
    clock: extras.clock ?? systemClock,
    run: () => job.run('schedule'),
    onNext: (at) => log.info({ at: at.toISOString() }, 'next scheduled restore drill'),
  });
  scheduler.start();
  metrics.drillScheduled.set(1);
  return {
    async stop() {
      metrics.drillScheduled.set(0);
      await job.stop();
      await scheduler.stop();
    },
  };
}

/** Uploads idle this long: segments come slowly enough for the follower to pay off. */
const FOLLOW_AFTER_IDLE_MS = 150;

/**
 * When following the segment being written would be wasted work: while
 * uploads are under way or have only just ended (segments come faster than
 * they are uploaded one by one, the archiver is not waiting on a single
 * segment, and the follower's reading and hashing would take CPU from
 * PostgreSQL and the uploads: measured under a pgbench flood, 5-8 ms of
 * CPU per segment for 12 % of segments followed), and while the cluster
 * recovers (it writes no WAL of its own, and the segments it restores may
 * be kept in pg_wal under their names). The signal files are looked at once
 * a second.
 */
function followerPause(pgdata: string, uploads: () => UploadAhead | undefined): () => boolean {
  let recovering = false;
  let checkedAt = Number.NEGATIVE_INFINITY;
  return () => {
    const now = Date.now();
    if (now - checkedAt >= 1000) {
      checkedAt = now;
      const signals = readRecoverySignals(pgdata);
      recovering = signals.archiveRecovery || signals.standby;
    }
    const idle = uploads()?.idleMs(now) ?? 0;
    return recovering || idle < FOLLOW_AFTER_IDLE_MS;
  };
}

export async function startAgent(config: Config, store: StorageDriver, log: Logger, metrics: WalshipMetrics, extras: AgentExtras = {}): Promise<RunningAgent> {
  const pgdata = config.pg.pgdata;
  const opened = await openWalArchive(config, store, log);
  let uploads: UploadAhead | undefined;
  const follower =
    pgdata !== undefined && config.agent.followWal && config.agent.uploadAhead
      ? new SegmentFollower(join(pgdata, 'pg_wal'), opened.codec, { paused: followerPause(pgdata, () => uploads) })
      : undefined;
  follower?.start();
  const archive = follower ? { ...opened, preEncoded: follower.take.bind(follower) } : opened;
  const owner = await dataOwner(pgdata);
  const fetchOptions = { ...(owner ? { owner } : {}), onNoChecksum: (name: string, key: string) => void log.warn({ file: name, key }, NO_CHECKSUM_WARNING) };
  const prefetcher = new WalPrefetcher(archive, config.transfer.downloadConcurrency, fetchOptions, {
    hit: () => metrics.prefetchHits.inc(),
    miss: () => metrics.prefetchMisses.inc(),
  });
  const archived = (name: string, bytes: number) => metrics.recordArchived(bytes, segmentEnd(name));

  if (pgdata !== undefined && config.agent.uploadAhead) {
    uploads = new UploadAhead(archive, {
      pgWalDir: join(pgdata, 'pg_wal'),
      concurrency: config.transfer.uploadConcurrency,
      timeoutMs: config.wal.pushTimeoutMs,
      onUploaded: (name, result, ms) => {
        archived(name, result.bytes);
        log.info({ segment: name, outcome: result.outcome, bytes: result.bytes, ms, preEncoded: result.preEncoded ?? false }, 'archived ahead');
      },
      onError: (name, err) => log.warn({ segment: name, code: asWalshipError(err).code, err: asWalshipError(err).message }, 'upload ahead failed; archive_command will retry'),
    });
    uploads.start();
  } else if (pgdata === undefined) {
    log.warn('PGDATA is not set: no upload ahead of archive_command; every segment is uploaded when PostgreSQL asks');
  }

  // Anyone who can write the spool directory directs the agent's file
  // access, so requests may only name files under the data directory.
  const confine = (path: string, op: string) => {
    const inside = pgdata === undefined ? isAbsolute(path) : isAbsolute(path) && resolve(path).startsWith(resolve(pgdata) + sep);
    if (!inside) throw new WalshipError('USAGE', `${op}: ${path} is not an absolute path inside the data directory ${pgdata ?? '(PGDATA unset)'}`);
  };

  const handler = async (req: SpoolRequest): Promise<SpoolResponse> => {
    const started = Date.now();
    const [a, b] = req.args;
    if (req.op === 'wal-push' && req.args.length === 1) {
      const timer = metrics.pushDuration.startTimer();
      try {
        confine(a!, 'wal-push');
        // An upload ahead has its own deadline and may serve other requests: it is waited for, not aborted.
        const result = await pushWithin(basename(a!), config.wal.pushTimeoutMs, (signal) =>
          uploads ? uploads.ensureArchived(a!) : pushWalFile(archive, a!, { signal }).then((r) => (archived(basename(a!), r.bytes), r)),
        );
        log.debug({ req: req.id, segment: result.key, outcome: result.outcome, ms: Date.now() - started, queuedMs: req.queuedMs }, 'wal-push');
        return { exitCode: 0 };
      } catch (err) {
        metrics.recordArchiveFailure(asWalshipError(err).code);
        throw err;
      } finally {
        timer();
      }
    }
    if (req.op === 'wal-fetch' && req.args.length === 2) {
      const timer = metrics.fetchDuration.startTimer();
      confine(b!, 'wal-fetch');
      const { holes, why } = holeAnswer(config.wal.fetchHole, b!);
      const result = await fetchWithin(a!, config.wal.fetchTimeoutMs, (signal) => prefetcher.fetch(a!, b!, { holes, signal })).catch((err: unknown) => {
        timer({ outcome: 'error' });
        throw fetchFailure(a!, err);
      });
      timer({ outcome: result.outcome });
      log.debug({ req: req.id, file: a, outcome: result.outcome, ms: Date.now() - started, queuedMs: req.queuedMs }, 'wal-fetch');
      if (result.outcome === 'fetched') return { exitCode: 0 };
      // 74 without a message: the normal end-of-archive probe, not an error; a hole answered so is said aloud.
      if (result.hole === undefined) return { exitCode: 74 };
      const warning = holeWarning(result.hole, why);
      log.warn({ req: req.id, file: a, next: result.hole.next }, warning);
      return { exitCode: 74, message: warning };
    }
    throw new WalshipError('USAGE', `unknown request ${req.op} ${req.args.join(' ')}: expected wal-push <absolute path> or wal-fetch <name> <absolute path>`);
  };

  const server = await startSpoolServer({
    dir: config.agent.spoolDir,
    handler: async (req) => {
      try {
        return await handler(req);
      } catch (err) {
        const e = asWalshipError(err);
        log.error({ req: req.id, op: req.op, args: req.args, code: e.code }, e.message);
        throw e;
      }
    },
    ...(owner ? { owner } : {}),
    concurrency: Math.max(4, config.transfer.uploadConcurrency + config.transfer.downloadConcurrency),
    onError: (err) => log.error({ err: asWalshipError(err).message }, 'spool error'),
  });
  log.info({ spool: config.agent.spoolDir, store: store.location, pgdata, uploadAhead: uploads !== undefined }, 'walship agent serving');
  const catalog = new BackupCatalog(store, metrics, log);
  catalog.start(config.agent.catalogIntervalMs);
  const backups = startBackups(config, archive, log, metrics, catalog, extras);
  // Without PostgreSQL there is no position to verify the archive against.
  const verifier = config.pg.host === undefined && pgdata === undefined ? undefined : new WalVerifier(config, archive, metrics, log);
  verifier?.start();
  const drills = startDrills(config, archive, log, metrics, backups?.job, extras);

  return {
    uploads,
    prefetcher,
    backups: backups?.job,
    async stop() {
      await server.close();
      await verifier?.stop();
      await drills?.stop();
      await backups?.stop();
      // After the backups: a backup finishing while stopping reads the catalogue.
      await catalog.stop();
      await uploads?.stop();
      await prefetcher.close(pgdata === undefined ? undefined : join(pgdata, 'pg_wal'));
      follower?.stop();
    },
  };
}
