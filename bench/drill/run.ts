// What proving a backup costs: walship restore-drill (a real restore,
// recovery through wal-fetch, start and checks), walship backup-verify
// beside walship backup-fetch (reading the same backup without and with
// writing it out), and pgBackRest 2.45's verify on a backup of the same
// database, at the same parallelism:
//
//   node bench/drill/run.ts [--scale N] [--repeat N] [--concurrency N]
//
// (run `npm run build` first: walship runs from dist/ as users run it; run as root.)
//
// One pgbench -s N database (generated with wal_level minimal, then
// restarted archiving into both tools at once), a full backup by each tool,
// then a pgbench write load whose WAL is archived after the backups (what
// the drill replays). With the source stopped, each round runs the four
// measurements one after the other, and the rounds repeat: interleaved, so
// the load of the shared machine falls on all of them alike. Prints the
// table (median and min–max) and writes bench/drill/results.json.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WALSHIP_BIN } from '../../test/support/cli.ts';
import { PgCluster, chownToPostgres, pgExec, postgresOwnedDir } from '../../test/support/pg-cluster.ts';
import { benchDirs, generateArchivingSource } from '../lib/archive-both.ts';
import { positiveInteger } from '../lib/args.ts';
import { Cleanup } from '../lib/cleanup.ts';
import { dirBytes } from '../lib/disk.ts';
import { publishResults, reportFailure } from '../lib/finish.ts';
import { loadNow, machineInfo } from '../lib/machine.ts';
import { measuredRun, runFailure, type MeasuredRun } from '../lib/measured-run.ts';
import { STANZA, writePgBackRestConfig } from '../lib/pgbackrest.ts';
import { currentSegment, segmentCount, switchSegment, waitArchivedThrough } from '../lib/postgres.ts';
import { storeEnv } from '../lib/walship.ts';
import { formatReport, measurement, type DrillBenchReport, type Sample } from './report.ts';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '100' },
    repeat: { type: 'string', default: '3' },
    // pgBackRest's process-max=2 (bench/lib/pgbackrest.ts) against WALG_DOWNLOAD_CONCURRENCY.
    concurrency: { type: 'string', default: '2' },
    // Seconds of pgbench write load after the backups: the WAL the drill replays.
    'wal-load': { type: 'string', default: '20' },
  },
});
const scale = positiveInteger(values.scale, '--scale');
const repeats = positiveInteger(values.repeat, '--repeat');
const concurrency = positiveInteger(values.concurrency, '--concurrency');
const walLoadSeconds = positiveInteger(values['wal-load'], '--wal-load');
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);
const MIB = 1024;

const cleanup = new Cleanup();
cleanup.onSignals();
const started = Date.now();

try {
  if (process.getuid?.() !== 0) throw new Error('run as root: the servers and the tools run as postgres through runuser, and CPU is counted in cgroups');
  const machine = await machineInfo();
  if (machine.pgbackrest === 'not installed') throw new Error('pgbackrest is not installed: apt-get install -y pgbackrest');
  log(`walship drill bench: pgbench -s ${scale}, ${repeats} rounds, concurrency ${concurrency}, ${machine.cores} cores, load ${machine.loadAtStart.join(' ')}`);

  const { work, store, pgbr } = await benchDirs(cleanup, 'drill');
  const scratch = join(work, 'scratch');
  await mkdir(scratch);
  await chownToPostgres(scratch);

  const source = await PgCluster.create({
    conf: { wal_level: 'minimal', max_wal_senders: 0, archive_mode: 'off', max_wal_size: '1GB', shared_buffers: '128MB' },
    env: storeEnv(store),
  });
  cleanup.defer(`destroy cluster ${source.root}`, () => source.destroy());
  const pgbrConfig = await writePgBackRestConfig(pgbr, { name: 'main', pgData: source.dataDir, socketDir: source.socketDir, port: source.port, async: false });
  const generateSeconds = await generateArchivingSource(source, scale, work, pgbrConfig, log);

  const walshipEnv = { ...storeEnv(store), WALG_DOWNLOAD_CONCURRENCY: String(concurrency) };
  log('  backups (not measured) ...');
  await pgExec(process.execPath, [WALSHIP_BIN, 'backup-push'], { ...walshipEnv, PGHOST: source.socketDir, PGPORT: String(source.port), PGUSER: 'postgres', PGDATA: source.dataDir });
  await pgExec('/usr/bin/pgbackrest', [`--config=${pgbrConfig}`, `--stanza=${STANZA}`, '--type=full', '--start-fast', 'backup']);

  // WAL after the backups, archived: what the drill replays to the end of the archive.
  const firstAfter = await currentSegment(source);
  await source.pgbench(['-n', '-c', '2', '-T', String(walLoadSeconds)]);
  const lastAfter = await switchSegment(source);
  await waitArchivedThrough(source, lastAfter, 300_000);
  const walAfterBackupSegments = segmentCount(firstAfter, lastAfter);
  const dataDirBytes = (await dirBytes(source.dataDir)) - (await dirBytes(join(source.dataDir, 'pg_wal')));
  log(`  data directory ${(dataDirBytes / 1e6).toFixed(0)} MB without pg_wal; ${walAfterBackupSegments} segments archived after the backups`);
  // Nothing else runs during the measurements.
  await source.stop();

  let runs = 0;
  const walship = (op: string, args: readonly string[], toolExes: readonly string[]) =>
    measuredRun(cleanup, {
      name: `walship-${op}-${++runs}`,
      command: process.execPath,
      args: [WALSHIP_BIN, ...args],
      env: { ...walshipEnv, WALSHIP_DRILL_DIR: scratch },
      asPostgres: true,
      workDir: work,
      toolExes,
    });
  const sample = (round: number, run: MeasuredRun, drill?: Sample['drill']): Sample => ({
    round,
    wallSeconds: run.wallSeconds,
    ...(run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {}),
    ...(run.peakTreeRssKiB !== undefined ? { peakTreeRssMiB: run.peakTreeRssKiB / MIB } : {}),
    peakRssMiB: run.peakRssKiB / MIB,
    mbPerSecond: dataDirBytes / 1e6 / run.wallSeconds,
    loadAtStart: run.loadAtStart,
    ...(drill ? { drill } : {}),
  });

  const samples = { drill: [] as Sample[], verify: [] as Sample[], fetch: [] as Sample[], pgbr: [] as Sample[] };
  for (let round = 1; round <= repeats; round++) {
    log(`round ${round}:`);
    // The drill's peak counts its PostgreSQL too: postgres processes share shared_buffers, so their summed RSS counts those pages more than once.
    const drillRun = await walship('drill', ['restore-drill', 'LATEST', '--json'], ['node', 'postgres']);
    if (drillRun.exitCode !== 0) throw runFailure('walship restore-drill', drillRun);
    const report = JSON.parse(drillRun.stdout) as { status: string; restoreSeconds: number; recoverySeconds: number; rtoSeconds: number; rpoSeconds: number };
    if (report.status !== 'ok') throw runFailure(`walship restore-drill (status ${report.status})`, drillRun);
    samples.drill.push(sample(round, drillRun, { status: report.status, restoreSeconds: report.restoreSeconds, recoverySeconds: report.recoverySeconds, rtoSeconds: report.rtoSeconds, rpoSeconds: report.rpoSeconds }));
    log(`  restore-drill ${drillRun.wallSeconds.toFixed(1)} s (restore ${report.restoreSeconds.toFixed(1)}, recovery ${report.recoverySeconds.toFixed(1)}), peak RSS ${(drillRun.peakTreeRssKiB! / MIB).toFixed(0)} MiB, load ${drillRun.loadAtStart.join(' ')}`);

    const verifyRun = await walship('verify', ['backup-verify', 'LATEST', '--json'], ['node']);
    if (verifyRun.exitCode !== 0) throw runFailure('walship backup-verify', verifyRun);
    samples.verify.push(sample(round, verifyRun));
    log(`  backup-verify ${verifyRun.wallSeconds.toFixed(1)} s, load ${verifyRun.loadAtStart.join(' ')}`);

    const target = await postgresOwnedDir('walship-bench-drill-fetch-');
    const removeTarget = cleanup.defer(`remove ${target}`, () => rm(target, { recursive: true, force: true }));
    const fetchRun = await walship('fetch', ['backup-fetch', target, 'LATEST', '--no-recovery'], ['node']);
    if (fetchRun.exitCode !== 0) throw runFailure('walship backup-fetch', fetchRun);
    await removeTarget();
    samples.fetch.push(sample(round, fetchRun));
    log(`  backup-fetch ${fetchRun.wallSeconds.toFixed(1)} s, load ${fetchRun.loadAtStart.join(' ')}`);

    const pgbrRun = await measuredRun(cleanup, {
      name: `pgbackrest-verify-${round}`,
      command: '/usr/bin/pgbackrest',
      args: [`--config=${pgbrConfig}`, `--stanza=${STANZA}`, 'verify'],
      env: {},
      asPostgres: true,
      workDir: work,
      toolExes: ['pgbackrest'],
    });
    if (pgbrRun.exitCode !== 0) throw runFailure('pgbackrest verify', pgbrRun);
    samples.pgbr.push(sample(round, pgbrRun));
    log(`  pgbackrest verify ${pgbrRun.wallSeconds.toFixed(1)} s, load ${pgbrRun.loadAtStart.join(' ')}`);
  }

  const report: DrillBenchReport = {
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    machine,
    loadAtEnd: loadNow(),
    settings: {
      postgres: 'PostgreSQL 15, fsync off on the source (server only; both tools fsync what they write), archive_command = walship wal-push and pgbackrest archive-push at the same time',
      walship: `filesystem store on the same disk, lz4, WALG_DOWNLOAD_CONCURRENCY=${concurrency}; restore-drill LATEST --json (scratch directory on the same disk), backup-verify LATEST, backup-fetch LATEST --no-recovery into an empty directory`,
      pgbackrest: 'posix repo on the same disk, lz4, process-max=2; verify (every backup file and every archived WAL segment in the repo, checksums only)',
      load: `pgbench -n -c 2 -T ${walLoadSeconds} after the backups, archived before the measurements; the source is stopped during them`,
    },
    database: { scale, dataDirBytes, walAfterBackupSegments, generateSeconds },
    repeats,
    measurements: [
      measurement('restore-drill', 'walship restore-drill', 'restore + recovery to the end of the archive + start + checks + stop + delete', samples.drill),
      measurement('backup-verify', 'walship backup-verify', 'decode and checksum every file, page checksums, the backup\'s WAL', samples.verify),
      measurement('backup-fetch', 'walship backup-fetch', 'into an empty directory, --no-recovery', samples.fetch),
      measurement('pgbackrest-verify', 'pgBackRest verify', 'process-max=2', samples.pgbr),
    ],
  };
  await publishResults(RESULTS, report, formatReport(report));
} catch (err) {
  reportFailure(err, cleanup, log);
} finally {
  await cleanup.runAll();
}
