import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../../test/support/pg-cluster.ts';
import type { Cleanup } from '../lib/cleanup.ts';
import { createCpuGroup } from '../lib/cpu-account.ts';
import { loadNow } from '../lib/machine.ts';
import { BENCH_PG_CONF, SEGMENT_BYTES, currentSegment, isSegmentName, pacedLoad, pgbenchLoad, segmentCount, switchSegment, waitArchivedThrough } from '../lib/postgres.ts';
import { summarize, type Summary } from '../lib/stats.ts';
import { readTimedCalls, resetTimingLog, wrapCommand, type TimedCall } from '../lib/timing-wrapper.ts';
import type { ArchiveSubject } from './subjects.ts';

// One archive measurement: a fresh cluster archiving through one subject's
// archive_command (wrapped by the timing wrapper), base backups taken
// before the load for the recoveries that follow, then the pgbench load,
// timed until pg_stat_archiver reports its last segment archived.

const run = promisify(execFile);

export interface BaseBackup {
  root: string;
  dataDir: string;
}

export interface ArchiveResult {
  id: string;
  label: string;
  segments: number;
  firstSegment: string;
  lastSegment: string;
  pgbenchScale: number;
  topUpRounds: number;
  /** archive_command wall time per call during the load, ms (wrapper included). */
  commandMs: Summary;
  /** Every call's wall time, in call order (ms, 0.1 ms resolution), for closer looks at the distribution. */
  commandSamplesMs: number[];
  failedCalls: number;
  /** When a call failed: PostgreSQL's log lines about it (the tool's stderr lands there), so the cause is not lost with the cluster. */
  failureLog?: string[];
  loadSeconds: number;
  /** From the end of the load until the last segment was reported archived. */
  drainSeconds: number;
  totalSeconds: number;
  segmentsPerSecond: number;
  mibPerSecond: number;
  storedBytes: number;
  /** Stored size as a share of the WAL's size. */
  storedRatio: number;
  loadAverage: number[];
  /** CPU seconds of the tool's processes (agent, client, pgBackRest, async workers) from the start of the load until the last segment was archived; undefined without cgroup accounting. */
  toolCpuSeconds?: number;
  toolCpuMsPerSegment?: number;
  /** walship agent only: time spent inside the agent per request, and uploads done ahead. */
  agent?: AgentArchiveStats;
  /** The steady-pace phase before the load: archive_command's time when the machine has spare CPU. */
  paced?: PacedResult;
}

export interface PacedResult {
  segments: number;
  intervalMs: number;
  commandMs: Summary;
  agent?: AgentArchiveStats;
}

export interface AgentArchiveStats {
  /** Inside the agent's handler, per archive_command request, ms. */
  handlerMs: Summary;
  /** From the client's request to the handler's start: the spool hand-over on the agent's side, ms. */
  queuedMs: Summary;
  /** Upload-ahead durations (read, hash, compress, write, from .ready), ms. */
  uploadAheadMs: Summary;
  uploadsAhead: number;
  /** Of those, hashed and compressed while PostgreSQL was still writing them. */
  preEncoded: number;
  /** archive_command wall time minus the agent's handler time, paired by segment: the sh client, the spool hand-over and the wrapper. */
  outsideHandlerMs: Summary;
}

export interface ArchiveRunOptions {
  segments: number;
  scale: number;
  /** Base backups to take before the load, for recoveries from this archive. */
  backups: number;
  /** Segments of the steady-pace phase (0: none), one every pacedIntervalMs. */
  pacedSegments: number;
  pacedIntervalMs: number;
  workDir: string;
  wrapper: string;
  timeoutMs: number;
  /** Owner of the cgroup membership file: the wrapper runs as postgres. */
  postgresIds: { uid: number; gid: number };
  log: (line: string) => void;
}

export async function runArchive(cleanup: Cleanup, subject: ArchiveSubject, options: ArchiveRunOptions): Promise<{ result: ArchiveResult; backups: BaseBackup[] }> {
  const { log } = options;
  const timingLog = join(options.workDir, `${subject.id}-archive.log`);
  await resetTimingLog(timingLog);
  // Created first, so that it is removed last, after the processes in it are gone.
  const cpu = await createCpuGroup(`walship-bench-${process.pid}-${subject.id}-archive`, options.postgresIds);
  if (cpu) cleanup.defer(`remove cgroup ${cpu.name}`, () => cpu.remove());

  const cluster = await PgCluster.create({ conf: { ...BENCH_PG_CONF, archive_mode: 'on' }, env: subject.postmasterEnv });
  const destroyCluster = cleanup.defer(`destroy cluster ${cluster.root}`, () => cluster.destroy());
  const command = await subject.attach(cluster);
  if (cpu && subject.agent?.child.pid) await cpu.addPid(subject.agent.child.pid);
  await cluster.setConf({ archive_command: wrapCommand(options.wrapper, timingLog, command, cpu?.procsFile) });
  await cluster.start();
  await subject.afterStart(cluster);

  // Warm-up, not measured: the first push does one-time work (walship records the cluster identity; pgBackRest reads archive.info for the first time).
  await waitArchivedThrough(cluster, await switchSegment(cluster), 60_000);
  // Before the backups, so that the recoveries do not replay these segments.
  const pacedRun = options.pacedSegments > 0 ? await runPaced(cluster, timingLog, options) : undefined;
  // One base backup, copied for each further recovery: every recovery from this archive then replays exactly the same segments.
  const backups: BaseBackup[] = [];
  for (let i = 0; i < options.backups; i++) {
    const b = i === 0 ? await cluster.baseBackup('none') : await copyBackup(backups[0]!);
    await chownToPostgres(b.root);
    cleanup.defer(`remove ${b.root}`, () => rm(b.root, { recursive: true, force: true }));
    backups.push(b);
  }
  await waitArchivedThrough(cluster, await switchSegment(cluster), 60_000);
  await resetTimingLog(timingLog);

  const first = await currentSegment(cluster);
  const loadAverage = loadNow();
  log(`  ${subject.label}: pgbench -i -s ${options.scale} from ${first} (load ${loadAverage.join(' ')})`);
  const cpuAtStart = await cpu?.usageSeconds();
  const t0 = performance.now();
  const { topUpRounds } = await pgbenchLoad(cluster, options.scale, first, options.segments);
  const tLoad = performance.now();
  const last = await switchSegment(cluster);
  const state = await waitArchivedThrough(cluster, last, options.timeoutMs);
  const tDone = performance.now();
  const cpuAtEnd = await cpu?.usageSeconds();
  const toolCpuSeconds = cpuAtStart !== undefined && cpuAtEnd !== undefined ? cpuAtEnd - cpuAtStart : undefined;
  if (state.failedCount > 0) log(`  ${subject.label}: archive_command failed ${state.failedCount} times (last ${state.lastFailed})`);

  const calls = (await readTimedCalls(timingLog)).filter((c) => c.args.split(' ').some((a) => isSegmentName(a.split('/').pop() ?? '')));
  const segments = segmentCount(first, last);
  const totalSeconds = (tDone - t0) / 1000;
  const storedBytes = await subject.storedBytes();
  const result: ArchiveResult = {
    id: subject.id,
    label: subject.label,
    segments,
    firstSegment: first,
    lastSegment: last,
    pgbenchScale: options.scale,
    topUpRounds,
    commandMs: summarize(calls.map((c) => c.ms)),
    commandSamplesMs: calls.map((c) => Math.round(c.ms * 10) / 10),
    failedCalls: calls.filter((c) => c.exitCode !== 0).length,
    loadSeconds: (tLoad - t0) / 1000,
    drainSeconds: (tDone - tLoad) / 1000,
    totalSeconds,
    segmentsPerSecond: segments / totalSeconds,
    mibPerSecond: (segments * SEGMENT_BYTES) / 2 ** 20 / totalSeconds,
    storedBytes,
    storedRatio: storedBytes / (segments * SEGMENT_BYTES),
    loadAverage,
    ...(toolCpuSeconds !== undefined ? { toolCpuSeconds, toolCpuMsPerSegment: (toolCpuSeconds * 1000) / segments } : {}),
  };

  if (result.failedCalls > 0 || state.failedCount > 0) {
    result.failureLog = (await cluster.log())
      .split('\n')
      .filter((l) => /archive command failed|failed archive|ERROR|FATAL|walship|pgbackrest|P00/i.test(l))
      .slice(-40);
    log(`  ${subject.label}: ${result.failedCalls} archive_command calls failed; PostgreSQL's log says:\n    ${result.failureLog.join('\n    ')}`);
  }

  // Free the disk now (gigabytes); the archive stays for the recoveries.
  await destroyCluster();
  await subject.detach();
  if (subject.agent) result.agent = agentArchiveStats(subject.agent.logs(), first, last, calls);
  if (pacedRun) {
    const { range, calls: pacedCalls, ...paced } = pacedRun;
    result.paced = subject.agent ? { ...paced, agent: agentArchiveStats(subject.agent.logs(), range.first, range.last, pacedCalls) } : paced;
    log(`  ${subject.label}: at a steady pace, archive_command median ${paced.commandMs.median.toFixed(1)} ms, p99 ${paced.commandMs.p99.toFixed(1)} ms`);
  }
  log(
    `  ${subject.label}: ${segments} segments in ${totalSeconds.toFixed(1)} s (load ${result.loadSeconds.toFixed(1)} s, drain ${result.drainSeconds.toFixed(2)} s); ` +
      `archive_command median ${result.commandMs.median.toFixed(1)} ms, p99 ${result.commandMs.p99.toFixed(1)} ms`,
  );
  return { result, backups };
}

async function runPaced(cluster: PgCluster, timingLog: string, options: ArchiveRunOptions) {
  await resetTimingLog(timingLog);
  options.log(`  steady pace: ${options.pacedSegments} segments, one every ${options.pacedIntervalMs} ms (load ${loadNow().join(' ')})`);
  const range = await pacedLoad(cluster, options.pacedSegments, options.pacedIntervalMs);
  await waitArchivedThrough(cluster, range.last, options.timeoutMs);
  const inRange = (name: string) => name >= range.first && name <= range.last;
  const calls = (await readTimedCalls(timingLog)).filter((c) => c.args.split(' ').some((a) => isSegmentName(a.split('/').pop() ?? '') && inRange(a.split('/').pop()!)));
  await resetTimingLog(timingLog);
  return { segments: calls.length, intervalMs: options.pacedIntervalMs, commandMs: summarize(calls.map((c) => c.ms)), range, calls };
}

async function copyBackup(from: BaseBackup): Promise<BaseBackup> {
  const root = await postgresOwnedDir('walship-pgbb-');
  const dataDir = join(root, 'data');
  await run('cp', ['-a', from.dataDir, dataDir]);
  return { root, dataDir };
}

/** From the agent's debug log: what archive_command's time was spent on inside the agent. */
function agentArchiveStats(lines: Record<string, unknown>[], first: string, last: string, calls: readonly TimedCall[]): AgentArchiveStats {
  const inLoad = (segment: unknown) => typeof segment === 'string' && segment.slice(-24) >= first && segment.slice(-24) <= last;
  const segOf = (l: Record<string, unknown>) => (typeof l.segment === 'string' ? l.segment.replace(/^.*\//, '').slice(0, 24) : '');
  const pushes = lines.filter((l) => l.msg === 'wal-push' && inLoad(segOf(l)));
  const ahead = lines.filter((l) => l.msg === 'archived ahead' && inLoad(segOf(l)));
  const handlerBySegment = new Map(pushes.map((l) => [segOf(l), Number(l.ms)]));
  const outside = calls.flatMap((c) => {
    const handler = handlerBySegment.get(c.args.split('/').pop() ?? '');
    return handler === undefined ? [] : [c.ms - handler];
  });
  return {
    outsideHandlerMs: summarize(outside),
    handlerMs: summarize(pushes.map((l) => Number(l.ms))),
    queuedMs: summarize(pushes.map((l) => Number(l.queuedMs))),
    uploadAheadMs: summarize(ahead.map((l) => Number(l.ms))),
    uploadsAhead: ahead.length,
    preEncoded: ahead.filter((l) => l.preEncoded === true).length,
  };
}
