// WAL archiving and recovery, walship beside pgBackRest 2.45, on the same
// machine and the same pgbench WAL:
//
//   node bench/wal/run.ts [--segments N] [--paced N] [--paced-interval-ms MS]
//                         [--cli-recovery] [--get-queue-max SIZE]
//                         [--agent-env NAME=VALUE ...]
//
// (run `npm run build` first: walship runs from dist/ as users run it.)
//
// For each configuration — walship agent + walship-client, walship wal-push
// (a Node process per segment), pgBackRest archive-push sync and async — a
// fresh cluster archives a pgbench -i load of at least N segments, and
// reports (a) archive_command wall time per call, (b) throughput from the
// start of the load until pg_stat_archiver reports the last segment; then
// (c) base backups taken before the loads are recovered to the end of the
// archive through restore_command (walship agent with prefetch, pgBackRest
// archive-get sync and async), timed from start to promotion.
// Prints one table and writes bench/wal/results.json. Run as root (servers
// and pgBackRest run as postgres through runuser).

import { rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { postgresOwnedDir } from '../../test/support/pg-cluster.ts';
import { envPairs, positiveInteger } from '../lib/args.ts';
import { Cleanup } from '../lib/cleanup.ts';
import { publishResults, reportFailure } from '../lib/finish.ts';
import { loadNow, machineInfo } from '../lib/machine.ts';
import { pgbenchScaleFor } from '../lib/postgres.ts';
import { installTimingWrapper, measureWrapperOverhead } from '../lib/timing-wrapper.ts';
import { runArchive, type ArchiveResult, type BaseBackup } from './archive-run.ts';
import { runRecovery, type RecoveryResult } from './recovery-run.ts';
import { formatReport, ratiosAndTable, type WalBenchReport } from './report.ts';
import {
  pgBackRestArchive,
  pgBackRestRecovery,
  walshipAgentArchive,
  walshipAgentRecovery,
  walshipCliArchive,
  walshipCliRecovery,
  type ArchiveSubject,
  type RecoverySubject,
} from './subjects.ts';

const { values } = parseArgs({
  options: {
    segments: { type: 'string', default: '200' },
    // The steady-pace phase: segments, and one every this many ms.
    paced: { type: 'string', default: '40' },
    'paced-interval-ms': { type: 'string', default: '500' },
    'cli-recovery': { type: 'boolean', default: false },
    // pgBackRest's default; the walship agent prefetches WALG_DOWNLOAD_CONCURRENCY (4) segments = 64 MiB.
    'get-queue-max': { type: 'string', default: '128MiB' },
    // Extra settings for the walship agents, to try a change without editing code (e.g. WALG_DOWNLOAD_CONCURRENCY=8).
    'agent-env': { type: 'string', multiple: true, default: [] },
  },
});
const agentEnv = envPairs(values['agent-env'], '--agent-env');
const segments = positiveInteger(values.segments, '--segments');
const pacedSegments = values.paced === '0' ? 0 : positiveInteger(values.paced, '--paced');
const pacedIntervalMs = positiveInteger(values['paced-interval-ms'], '--paced-interval-ms');
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

const cleanup = new Cleanup();
cleanup.onSignals();
const started = Date.now();

try {
  const machine = await machineInfo();
  if (machine.pgbackrest === 'not installed') throw new Error('pgbackrest is not installed: apt-get install -y pgbackrest');
  const work = await postgresOwnedDir('walship-bench-wal-');
  cleanup.defer(`remove ${work}`, () => rm(work, { recursive: true, force: true }));
  const wrapper = await installTimingWrapper(work);
  const { uid, gid } = await stat(work);
  const postgresIds = { uid, gid };
  const scale = pgbenchScaleFor(segments);
  // Generous: a broken tool fails the run instead of hanging it.
  const timeoutMs = Math.max(180_000, segments * 3_000);
  log(`walship WAL bench: ${segments} segments (pgbench -i -s ${scale}), ${machine.cores} cores, load ${machine.loadAtStart.join(' ')}`);

  // Measured at the start and again at the end: it moves with the machine's load.
  const overheadAtStart = await measureWrapperOverhead(wrapper, work);

  // Archive runs. Base backups are taken before each load for the recoveries below.
  const archiveOptions = { segments, scale, workDir: work, wrapper, timeoutMs, postgresIds, log, pacedSegments, pacedIntervalMs };
  const archive: ArchiveResult[] = [];
  const plans: { subject: (c: Cleanup) => Promise<ArchiveSubject>; backups: number }[] = [
    { subject: (c) => walshipAgentArchive(c, agentEnv), backups: 1 },
    { subject: (c) => pgBackRestArchive(c, false), backups: 2 },
    { subject: (c) => pgBackRestArchive(c, true), backups: 0 },
    { subject: walshipCliArchive, backups: values['cli-recovery'] ? 1 : 0 },
  ];
  const sources = new Map<string, { subject: ArchiveSubject; backups: BaseBackup[]; result: ArchiveResult }>();
  log('archiving:');
  for (const plan of plans) {
    const subject = await plan.subject(cleanup);
    const { result, backups } = await runArchive(cleanup, subject, { ...archiveOptions, backups: plan.backups });
    archive.push(result);
    sources.set(subject.id, { subject, backups, result });
  }

  // Recovery runs, each from its own copy of a base backup of the matching archive.
  const recovery: RecoveryResult[] = [];
  const agentSource = sources.get('walship-agent')!;
  const brSource = sources.get('pgbackrest-sync')!;
  const cliSource = sources.get('walship-cli')!;
  const recoveries: { subject: RecoverySubject; backup: BaseBackup; source: ArchiveResult }[] = [
    { subject: walshipAgentRecovery(cleanup, agentSource.subject.location, agentEnv), backup: agentSource.backups[0]!, source: agentSource.result },
    { subject: pgBackRestRecovery(brSource.subject.location, false, values['get-queue-max']), backup: brSource.backups[0]!, source: brSource.result },
    { subject: pgBackRestRecovery(brSource.subject.location, true, values['get-queue-max']), backup: brSource.backups[1]!, source: brSource.result },
    ...(values['cli-recovery'] ? [{ subject: walshipCliRecovery(cliSource.subject.location), backup: cliSource.backups[0]!, source: cliSource.result }] : []),
  ];
  log('recovery:');
  for (const { subject, backup, source } of recoveries) {
    recovery.push(await runRecovery(cleanup, subject, backup, { lastSegment: source.lastSegment, expectedBranches: scale, workDir: work, wrapper, timeoutMs, postgresIds, log }));
  }

  const overheadAtEnd = await measureWrapperOverhead(wrapper, work);
  const { table, ratios } = ratiosAndTable(archive, recovery);
  const report: WalBenchReport = {
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    machine,
    loadAtEnd: loadNow(),
    settings: {
      segmentsRequested: segments,
      pgbenchScale: scale,
      postgres: 'fsync off, synchronous_commit off, wal_level replica, shared_buffers 64MB, max_wal_size 64GB, checkpoint_timeout 1h (no checkpoint during load or replay)',
      walship: 'filesystem store (WALG_FILE_PREFIX) in a temp dir, lz4, WALG_UPLOAD_CONCURRENCY 4, WALG_DOWNLOAD_CONCURRENCY 4 (defaults)',
      agentEnv,
      pgbackrest: `posix repo in a temp dir, compress-type=lz4, process-max=2, archive-get-queue-max=${values['get-queue-max']} (async get)`,
      timing: 'archive_command/restore_command wrapped by bench/lib/timing-wrapper.ts (bash, EPOCHREALTIME before and after: no fork inside the timed span)',
      paced: `${pacedSegments} segments, one every ${pacedIntervalMs} ms, before the pgbench load`,
    },
    wrapperOverheadMs: { atStart: overheadAtStart, atEnd: overheadAtEnd },
    archive,
    recovery,
    ratios,
  };
  await publishResults(RESULTS, report, formatReport(report, table));
} catch (err) {
  reportFailure(err, cleanup, log);
} finally {
  await cleanup.runAll();
}
