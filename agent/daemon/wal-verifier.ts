import type { Config } from '../config/types.ts';
import { asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { connectPg } from '../pg/connection.ts';
import { readRecoverySignals } from '../pg/recovery-signals.ts';
import { readClusterPosition, type ClusterPosition } from '../verify/cluster-position.ts';
import { fillGaps } from '../verify/gap-fill.ts';
import { runWalVerify, type WalVerifyRun } from '../verify/wal-verify.ts';
import { parseWalFileName } from '../wal/names.ts';
import type { WalArchive } from '../wal/push.ts';
import type { WalshipMetrics } from './metrics.ts';

// wal-verify run by the agent: every WALSHIP_WAL_VERIFY_INTERVAL for the
// metrics, and with the gap filled from the local pg_wal first at start-up,
// when the cluster is promoted (standby.signal gone) and when its timeline
// changes: the moments a failover leaves WAL the old primary never archived.

/** How often standby.signal is looked for: a promotion is acted on before PostgreSQL recycles what it streamed. */
const PROMOTION_POLL_MS = 1000;

export class WalVerifier {
  private readonly config: Config;
  private readonly archive: WalArchive;
  private readonly metrics: WalshipMetrics;
  private readonly log: Logger;
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> = Promise.resolve();
  private lastTimeline: number | undefined;
  private wasStandby: boolean | undefined;
  private stopped = false;

  constructor(config: Config, archive: WalArchive, metrics: WalshipMetrics, log: Logger) {
    this.config = config;
    this.archive = archive;
    this.metrics = metrics;
    this.log = log;
  }

  start(): void {
    this.enqueue('start-up', true);
    const every = this.config.agent.walVerifyIntervalMs;
    if (every > 0) this.timers.push(setInterval(() => this.enqueue('periodic', false), every));
    const pgdata = this.config.pg.pgdata;
    if (pgdata !== undefined) {
      this.wasStandby = readRecoverySignals(pgdata).standby;
      this.timers.push(
        setInterval(() => {
          const standby = readRecoverySignals(pgdata).standby;
          if (this.wasStandby === true && !standby) this.enqueue('promotion', true);
          this.wasStandby = standby;
        }, PROMOTION_POLL_MS),
      );
    }
    for (const t of this.timers) t.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await this.running;
  }

  /** One run at a time, in order: a promotion seen during a periodic run is acted on right after it. */
  enqueue(why: string, fill: boolean): Promise<void> {
    this.running = this.running.then(() => (this.stopped ? undefined : this.runOnce(why, fill))).catch((err: unknown) => {
      this.log.warn({ code: asWalshipError(err).code, why }, `wal-verify failed: ${asWalshipError(err).message}`);
      // PostgreSQL often starts after its sidecar: the start-up and promotion runs are not left to the next period.
      if (fill && !this.stopped) {
        const retry = setTimeout(() => void this.enqueue(why, fill), this.config.agent.healthIntervalMs);
        retry.unref();
        this.timers.push(retry);
      }
    });
    return this.running;
  }

  private async position(): Promise<ClusterPosition> {
    const client = await connectPg(this.config.pg, 5_000);
    try {
      return await readClusterPosition(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async verify(position: ClusterPosition): Promise<WalVerifyRun> {
    const pgdata = this.config.pg.pgdata;
    return runWalVerify({ archive: this.archive, position, uploadConcurrency: this.config.transfer.uploadConcurrency, ...(pgdata ? { pgdata } : {}) }, ['integrity', 'timeline']);
  }

  private async runOnce(why: string, fillAsked: boolean): Promise<void> {
    let position = await this.position();
    const timelineChanged = this.lastTimeline !== undefined && position.timeline !== this.lastTimeline;
    this.lastTimeline = position.timeline;
    let run = await this.verify(position);
    const pgdata = this.config.pg.pgdata;
    const fill = (fillAsked || timelineChanged) && pgdata !== undefined;
    if (fill && run.report.integrity?.status !== 'OK') {
      const filled = await fillGaps(this.archive, run, position, pgdata);
      this.metrics.walGapFilled.inc(filled.filled.length);
      if (filled.filled.length > 0) this.log.info({ why: timelineChanged ? 'timeline change' : why, files: filled.filled }, `uploaded ${filled.filled.length} WAL file(s) missing from the archive from the local pg_wal`);
      for (const f of filled.failed) this.log.warn({ file: f.name }, `could not upload ${f.name}, missing from the archive, from the local pg_wal: ${f.why}`);
      position = await this.position();
      run = await this.verify(position);
    }
    this.record(run, position);
  }

  private record(run: WalVerifyRun, position: ClusterPosition): void {
    const integrity = run.report.integrity!;
    const lost = integrity.details.filter((d) => d.status === 'MISSING_LOST');
    const lostCount = lost.reduce((a, d) => a + d.segments_count, 0);
    this.metrics.setLate(this.metrics.walIntegrityOk, integrity.status === 'FAILURE' ? 0 : 1);
    // The first lost segment's start, as an LSN: segment 0 is never archived, so 0 says "none".
    const firstLost = lost[0] === undefined ? 0 : Number(parseWalFileName(lost[0].start_segment, position.segmentSize).segNo! * BigInt(position.segmentSize));
    this.metrics.setLate(this.metrics.walFirstMissing, firstLost);
    this.metrics.setLate(this.metrics.walTimelineOk, run.report.timeline?.status === 'OK' ? 1 : 0);
    this.metrics.setLate(this.metrics.walGapUnfilled, lostCount);
    if (lostCount > 0) {
      const ranges = lost.map((d) => (d.start_segment === d.end_segment ? d.start_segment : `${d.start_segment}..${d.end_segment}`)).join(', ');
      this.log.error({ lost: ranges, segments: lostCount }, `wal-verify: ${lostCount} segment(s) missing from the archive and not in the local pg_wal (${ranges}): a point-in-time recovery cannot cross them; take a new backup`);
    }
  }
}
