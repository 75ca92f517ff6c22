import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PgCluster, chownToPostgres } from '../../test/support/pg-cluster.ts';
import type { Cleanup } from '../lib/cleanup.ts';
import { createCpuGroup } from '../lib/cpu-account.ts';
import { loadNow } from '../lib/machine.ts';
import { BENCH_PG_CONF, SEGMENT_BYTES, isSegmentName, waitPromoted } from '../lib/postgres.ts';
import { summarize, type Summary } from '../lib/stats.ts';
import { readTimedCalls, resetTimingLog, wrapCommand } from '../lib/timing-wrapper.ts';
import type { BaseBackup } from './archive-run.ts';
import type { RecoverySubject } from './subjects.ts';

// One recovery measurement: a base backup taken before the load, recovered
// to the end of the archive through one subject's restore_command, timed
// from the server's start until it is promoted (pg_is_in_recovery() false).

export interface RecoveryResult {
  id: string;
  label: string;
  /** Segments restore_command delivered (exit 0). */
  segmentsReplayed: number;
  /** restore_command calls that answered "not there" (end of archive, timeline history probes). */
  misses: number;
  replaySeconds: number;
  segmentsPerSecond: number;
  mibPerSecond: number;
  /** restore_command wall time per delivered segment, ms (wrapper included). */
  commandMs: Summary;
  /** Every delivered segment's restore_command wall time, in call order (ms, 0.1 ms resolution). */
  commandSamplesMs: number[];
  reachedLastSegment: boolean;
  loadAverage: number[];
  /** CPU seconds of the tool's processes (agent, client, pgBackRest, async workers) until promotion; undefined without cgroup accounting. */
  toolCpuSeconds?: number;
  toolCpuMsPerSegment?: number;
  /** walship agent only: time inside the agent per delivered segment (its log does not say which were prefetch hits). */
  agent?: { served: number; handlerMs: Summary; queuedMs: Summary; outsideHandlerMs: Summary };
}

export interface RecoveryRunOptions {
  lastSegment: string;
  expectedBranches: number;
  workDir: string;
  wrapper: string;
  timeoutMs: number;
  postgresIds: { uid: number; gid: number };
  log: (line: string) => void;
}

export async function runRecovery(cleanup: Cleanup, subject: RecoverySubject, backup: BaseBackup, options: RecoveryRunOptions): Promise<RecoveryResult> {
  const { log } = options;
  const timingLog = join(options.workDir, `${subject.id}-restore.log`);
  await resetTimingLog(timingLog);
  const cpu = await createCpuGroup(`walship-bench-${process.pid}-${subject.id}-recovery`, options.postgresIds);
  if (cpu) cleanup.defer(`remove cgroup ${cpu.name}`, () => cpu.remove());
  const command = await subject.attach(backup.dataDir);
  if (cpu && subject.agent?.child.pid) await cpu.addPid(subject.agent.child.pid);
  const cluster = await PgCluster.adopt(backup.root, backup.dataDir, {
    // archive_mode off: the backup carries the source's archive_command, and the clone must not archive into the source's archive.
    conf: { ...BENCH_PG_CONF, archive_mode: 'off', restore_command: wrapCommand(options.wrapper, timingLog, command, cpu?.procsFile) },
    env: subject.postmasterEnv,
  });
  const destroyCluster = cleanup.defer(`destroy cluster ${cluster.root}`, () => cluster.destroy());
  const signal = join(backup.dataDir, 'recovery.signal');
  await writeFile(signal, '');
  await chownToPostgres(signal);

  const loadAverage = loadNow();
  log(`  ${subject.label}: recovering (load ${loadAverage.join(' ')})`);
  const t0 = performance.now();
  await cluster.startNoWait();
  await waitPromoted(cluster, options.timeoutMs);
  const replaySeconds = (performance.now() - t0) / 1000;
  const toolCpuSeconds = await cpu?.usageSeconds();

  // The last table pgbench -i fills: its row count proves the replay reached the end of the load.
  const [row] = await cluster.query<{ n: string }>('select count(*)::text as n from pgbench_branches');
  if (Number(row!.n) !== options.expectedBranches) throw new Error(`${subject.label}: recovered pgbench_branches has ${row!.n} rows, expected ${options.expectedBranches}`);

  const calls = await readTimedCalls(timingLog);
  const delivered = calls.filter((c) => c.exitCode === 0 && isSegmentName(c.args.split(' ').find(isSegmentName) ?? ''));
  const names = new Set(delivered.map((c) => c.args.split(' ').find(isSegmentName)!));
  const segmentsReplayed = names.size;
  await destroyCluster();
  await subject.detach();

  const result: RecoveryResult = {
    id: subject.id,
    label: subject.label,
    segmentsReplayed,
    misses: calls.filter((c) => c.exitCode !== 0).length,
    replaySeconds,
    segmentsPerSecond: segmentsReplayed / replaySeconds,
    mibPerSecond: (segmentsReplayed * SEGMENT_BYTES) / 2 ** 20 / replaySeconds,
    commandMs: summarize(delivered.map((c) => c.ms)),
    commandSamplesMs: delivered.map((c) => Math.round(c.ms * 10) / 10),
    reachedLastSegment: names.has(options.lastSegment),
    loadAverage,
    ...(toolCpuSeconds !== undefined ? { toolCpuSeconds, toolCpuMsPerSegment: (toolCpuSeconds * 1000) / segmentsReplayed } : {}),
  };
  if (subject.agent) {
    const fetches = subject.agent.logs().filter((l) => l.msg === 'wal-fetch' && typeof l.file === 'string' && isSegmentName(l.file) && l.outcome === 'fetched');
    result.agent = {
      served: fetches.length,
      // restore_command wall time minus the agent's handler time, paired by file: the sh client, the spool hand-over and the wrapper.
      outsideHandlerMs: summarize(
        delivered.flatMap((c) => {
          const name = c.args.split(' ').find(isSegmentName);
          const h = fetches.find((l) => l.file === name);
          return h ? [c.ms - Number(h.ms)] : [];
        }),
      ),
      handlerMs: summarize(fetches.map((l) => Number(l.ms))),
      queuedMs: summarize(fetches.map((l) => Number(l.queuedMs))),
    };
  }
  if (!result.reachedLastSegment) log(`  ${subject.label}: warning: ${options.lastSegment} was not among the restored segments`);
  log(
    `  ${subject.label}: ${segmentsReplayed} segments replayed in ${replaySeconds.toFixed(1)} s; ` +
      `restore_command median ${result.commandMs.median.toFixed(1)} ms, p99 ${result.commandMs.p99.toFixed(1)} ms`,
  );
  return result;
}
