// Full backup and restore, walship beside pgBackRest 2.45, on the same
// machine, disk and database:
//
//   node bench/backup/run.ts [--scale N] [--walship-concurrency 4,2] [--first walship|pgbackrest]
//                            [--no-delta] [--no-verify] [--cpu-prof DIR] [--walship-env NAME=VALUE ...]
//
// (run `npm run build` first: walship runs from dist/ as users run it; run as root.)
//
// One pgbench -s N database (generated with wal_level = minimal, so no WAL
// is written for it, then restarted archiving), whose archive_command pushes
// every segment to both tools at once (walship wal-push, pgbackrest archive-push),
// so each repo holds the WAL its backups need. Then per tool: a full backup
// of the running cluster; with the cluster stopped, a restore into an empty
// directory, a delta restore over it, and a check that the restored copy
// starts, replays from the tool's own archive, and holds the source's rows.
// Prints one table (ratios walship ÷ pgBackRest) and writes
// bench/backup/results.json.

import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PgCluster, chownToPostgres, postgresOwnedDir, writeOwned } from '../../test/support/pg-cluster.ts';
import { benchDirs, generateArchivingSource } from '../lib/archive-both.ts';
import { envPairs, positiveInteger } from '../lib/args.ts';
import { Cleanup } from '../lib/cleanup.ts';
import { publishResults, reportFailure } from '../lib/finish.ts';
import { dirBytes } from '../lib/disk.ts';
import { loadNow, machineInfo } from '../lib/machine.ts';
import { writePgBackRestConfig } from '../lib/pgbackrest.ts';
import { waitPromoted } from '../lib/postgres.ts';
import { storeEnv } from '../lib/walship.ts';
import { figures, formatReport, ratiosAndTable, type BackupBenchReport, type ToolResults } from './report.ts';
import { pgBackRestTool, walshipTool, type BackupTool, type BackupResult, type ToolContext } from './tools.ts';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '100' },
    // 4 is walship's default (WALG_UPLOAD_CONCURRENCY / WALG_DOWNLOAD_CONCURRENCY); 2 matches pgBackRest's process-max=2.
    'walship-concurrency': { type: 'string', default: '4,2' },
    first: { type: 'string', default: 'walship' },
    'no-delta': { type: 'boolean', default: false },
    'no-verify': { type: 'boolean', default: false },
    // Profiles every walship process (node --cpu-prof) into DIR; the figures then include the profiler's overhead.
    'cpu-prof': { type: 'string' },
    // Extra environment for every walship process, to try a setting without editing code (e.g. MALLOC_ARENA_MAX=2, UV_THREADPOOL_SIZE=2).
    'walship-env': { type: 'string', multiple: true, default: [] },
  },
});
const walshipEnv = envPairs(values['walship-env'], '--walship-env');
const scale = positiveInteger(values.scale, '--scale');
const concurrencies = values['walship-concurrency'].split(',').map(Number);
if (concurrencies.some((c) => !Number.isInteger(c) || c < 1 || c > 64)) throw new Error(`--walship-concurrency wants integers 1–64, not ${values['walship-concurrency']}`);
if (!['walship', 'pgbackrest'].includes(values.first)) throw new Error(`--first wants walship or pgbackrest, not ${values.first}`);
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const cleanup = new Cleanup();
cleanup.onSignals();
const started = Date.now();

try {
  if (process.getuid?.() !== 0) throw new Error('run as root: the servers and the tools run as postgres through runuser, and CPU is counted in cgroups');
  const machine = await machineInfo();
  if (machine.pgbackrest === 'not installed') throw new Error('pgbackrest is not installed: apt-get install -y pgbackrest');
  log(`walship backup bench: pgbench -s ${scale}, ${machine.cores} cores, load ${machine.loadAtStart.join(' ')}`);

  const { work, store, pgbrRoot, pgbr } = await benchDirs(cleanup, 'backup');
  let profileDir: string | undefined;
  if (values['cpu-prof']) {
    profileDir = values['cpu-prof'];
    await mkdir(profileDir, { recursive: true });
    await chownToPostgres(profileDir);
  }

  // The source: data generated without WAL, then archiving into both tools.
  const source = await PgCluster.create({
    conf: { wal_level: 'minimal', max_wal_senders: 0, archive_mode: 'off', max_wal_size: '1GB', shared_buffers: '128MB' },
    env: storeEnv(store),
  });
  cleanup.defer(`destroy cluster ${source.root}`, () => source.destroy());
  const pgbrConfig = await writePgBackRestConfig(pgbr, { name: 'main', pgData: source.dataDir, socketDir: source.socketDir, port: source.port, async: false });
  // pgBackRest does not create its log-path; without it there is no file log, which the report reads for the phases.
  await mkdir(join(pgbrRoot, 'main', 'log'), { recursive: true });
  await chownToPostgres(join(pgbrRoot, 'main', 'log'));
  const generateSeconds = await generateArchivingSource(source, scale, work, pgbrConfig, log);
  let t = performance.now();

  const dataDirBytes = (await dirBytes(source.dataDir)) - (await dirBytes(join(source.dataDir, 'pg_wal')));
  const [{ size }] = (await source.query<{ size: string }>('select sum(pg_database_size(datname))::text as size from pg_database')) as [{ size: string }];
  const [{ accounts }] = (await source.query<{ accounts: string }>("select count(*)::text || ':' || sum(aid)::text as accounts from pgbench_accounts")) as [{ accounts: string }];
  log(`  data directory ${(dataDirBytes / 1e6).toFixed(0)} MB without pg_wal; pgbench_accounts ${accounts}`);

  const ctx: ToolContext = { cleanup, source, workDir: work, nodeFlags: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [], walshipEnv };
  const walshipTools = concurrencies.map((c) => walshipTool(ctx, store, c));
  const baseline = pgBackRestTool(ctx, pgbr, pgbrConfig);
  const tools: BackupTool[] = values.first === 'walship' ? [...walshipTools, baseline] : [baseline, ...walshipTools];

  // Backups, one after the other, of the running (idle) source.
  const backups = new Map<string, BackupResult>();
  log('backups:');
  for (const tool of tools) {
    // Each backup starts with a fast checkpoint; done here first, so that it is equally cheap for every tool whatever the order.
    await source.query('checkpoint');
    const b = await tool.backup();
    backups.set(tool.id, b);
    log(`  ${tool.label}: ${b.run.wallSeconds.toFixed(2)} s, CPU ${b.run.cpuSeconds?.toFixed(2)} s, peak RSS ${(b.run.peakRssKiB / 1024).toFixed(0)} MiB (load ${b.run.loadAtStart.join(' ')}); ${b.summary}`);
  }
  await source.stop();

  // Restores, with the source stopped: into an empty directory, then a delta over it, then a start from the tool's archive.
  const results: ToolResults[] = [];
  log('restores:');
  for (const tool of tools) {
    const b = backups.get(tool.id)!;
    const root = await postgresOwnedDir(`walship-bench-restore-${tool.id}-`);
    const removeRoot = cleanup.defer(`remove ${root}`, () => rm(root, { recursive: true, force: true }));
    const dataDir = join(root, 'data');
    await mkdir(dataDir, { mode: 0o700 });
    await chownToPostgres(dataDir);

    const restore = await tool.restore(b.name, dataDir, false);
    log(`  ${tool.label} restore: ${restore.run.wallSeconds.toFixed(2)} s, CPU ${restore.run.cpuSeconds?.toFixed(2)} s, peak RSS ${(restore.run.peakRssKiB / 1024).toFixed(0)} MiB (load ${restore.run.loadAtStart.join(' ')})`);
    const delta = values['no-delta'] ? undefined : await tool.restore(b.name, dataDir, true);
    if (delta) log(`  ${tool.label} delta: ${delta.run.wallSeconds.toFixed(2)} s, CPU ${delta.run.cpuSeconds?.toFixed(2)} s, peak RSS ${(delta.run.peakRssKiB / 1024).toFixed(0)} MiB`);

    let verified: boolean | undefined;
    if (!values['no-verify']) {
      t = performance.now();
      verified = await verifyRestored(tool, root, dataDir, accounts);
      log(`  ${tool.label}: restored copy ${verified ? 'recovered and holds the data' : 'DOES NOT hold the data'} (${secs(performance.now() - t)})`);
    }
    await removeRoot();

    const r: ToolResults = {
      id: tool.id,
      label: tool.label,
      settings: tool.settings,
      backupName: b.name,
      backup: figures(b.run, dataDirBytes, b.summary, b.timeline, {
        storedBytes: b.storedBytes,
        storedPercent: (b.storedBytes / dataDirBytes) * 100,
        ...(b.reportedDataBytes !== undefined ? { reportedDataBytes: b.reportedDataBytes } : {}),
      }),
      restore: figures(restore.run, dataDirBytes, restore.summary, restore.timeline),
      ...(delta ? { delta: figures(delta.run, dataDirBytes, delta.summary, delta.timeline) } : {}),
      ...(verified !== undefined ? { verified } : {}),
    };
    results.push(r);
  }

  // Report: pgBackRest first, then the walship variants.
  const ordered = [...results.filter((r) => r.id !== 'pgbackrest'), results.find((r) => r.id === 'pgbackrest')!];
  const { table, ratios } = ratiosAndTable(ordered, 'pgbackrest');
  const report: BackupBenchReport = {
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    machine,
    loadAtEnd: loadNow(),
    settings: {
      postgres: 'PostgreSQL 15, fsync off (server only; both tools fsync what they write), wal_level replica, archive_command = a script running walship wal-push and pgbackrest archive-push at the same time',
      generation: `pgbench -i -s ${scale} -I dtGvp with wal_level minimal, then restart with archiving`,
      backup: 'a CHECKPOINT before each backup, so that the fast checkpoint each tool asks for costs the same whatever the order',
      walship: walshipTools.map((w) => w.settings),
      pgbackrest: baseline.settings,
      restore: 'walship backup-fetch --no-recovery; pgBackRest restore --type=none (archive-mode preserve): data files and backup_label only',
      delta: 'walship backup-fetch into the restored (unchanged) directory, pgBackRest restore --delta: both checksum every file and rewrite none',
      cpuProfileDir: profileDir,
      walshipEnv,
    },
    database: { scale, dataDirBytes, databaseSizeBytes: Number(size), generateSeconds },
    order: tools.map((t) => t.label),
    tools: ordered,
    ratios,
  };
  await publishResults(RESULTS, report, formatReport(report, table));
} catch (err) {
  reportFailure(err, cleanup, log);
} finally {
  await cleanup.runAll();
}

/**
 * Starts the restored copy with the tool's own restore_command (archiving
 * off, so it leaves the repos alone), waits for promotion, and compares
 * pgbench_accounts with the source.
 */
async function verifyRestored(tool: BackupTool, root: string, dataDir: string, expected: string): Promise<boolean> {
  const { restoreCommand, env } = await tool.recoveryFor(dataDir);
  const cluster = await PgCluster.adopt(root, dataDir, { conf: { archive_mode: 'off', restore_command: restoreCommand, recovery_target_timeline: 'latest' }, env });
  const destroy = cleanup.defer(`stop restored cluster ${dataDir}`, () => cluster.stop('immediate'));
  await writeOwned(join(dataDir, 'recovery.signal'), '');
  try {
    await cluster.start();
    await waitPromoted(cluster, 120_000);
    const [{ accounts }] = (await cluster.query<{ accounts: string }>("select count(*)::text || ':' || sum(aid)::text as accounts from pgbench_accounts")) as [{ accounts: string }];
    return accounts === expected && (await stat(join(dataDir, 'global', 'pg_control'))).isFile();
  } finally {
    await destroy();
  }
}
