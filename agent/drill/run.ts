import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { readManifest, resolveBackup } from '../backup/catalog.ts';
import { backupFetch } from '../backup/fetch.ts';
import { BACKUP_LOCK, DRILL_LOCK, acquireStoreLock, lockHolder } from '../backup/lock.ts';
import type { BackupManifest, BackupSentinel } from '../backup/manifest.ts';
import { validateTarget } from '../backup/recovery-conf.ts';
import type { Config } from '../config/types.ts';
import { WalshipError, asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { findServerBinaries, majorOf, serverUser, type ServerBinaries, type ServerUser } from '../pg/server-binaries.ts';
import type { WalArchive } from '../wal/push.ts';
import { acceptsQueries, amcheck, consistent, controlData, userQuery } from './checks.ts';
import type { DrillReport, DrillStep } from './report.ts';
import { DrillServer } from './server.ts';

// restore-drill: a real restore of a backup into a scratch directory,
// recovered through walship's own wal-fetch (restore_command is this very
// executable), started with real PostgreSQL on a private socket, checked,
// stopped and deleted. What it reports is what a real restore would do
// today: how far it gets (the RPO) and how long it takes (the RTO).

/** What the drill takes from the process that runs it: nothing below reads the environment. */
export interface DrillHost {
  /** This Node.js and bin/walship: restore_command runs them. */
  node: string;
  walshipBin: string;
  /** PATH, for the PostgreSQL binaries and runuser. */
  path: string;
  /** The environment restore_command's walship reads its configuration from: the drill's own. */
  env: Record<string, string>;
  /** Where scratch directories go when WALSHIP_DRILL_DIR is unset. */
  tmpRoot: string;
}

export interface DrillOptions {
  /** A backup name, or LATEST. */
  backup: string;
  /** Recover to this point instead of the end of the archive. */
  target?: { time?: string; lsn?: string; name?: string };
  amcheck: boolean;
  query?: string;
  /** Stops the drill (the agent stopping): the server is stopped and the directory deleted; a restore under way finishes first. */
  signal?: AbortSignal;
}

/** Room for the WAL recovery keeps in pg_wal besides the data: max_wal_size (256 MB) twice over. */
const WAL_ALLOWANCE = 512 * 1024 * 1024;

function refuseIfStopped(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new WalshipError('DRILL_FAILED', 'the drill was stopped (the agent is stopping)');
}

const SCRATCH_PREFIX = 'walship-drill-';

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function refuseOverBudget(config: Config, sentinel: BackupSentinel, parent: string): Promise<void> {
  const needed = sentinel.dataBytes + WAL_ALLOWANCE;
  const mib = (n: number) => `${Math.ceil(n / 1024 / 1024)} MiB`;
  if (config.drill.diskBudgetBytes > 0 && needed > config.drill.diskBudgetBytes) {
    throw new WalshipError('DRILL_REFUSED', `a restore drill of ${sentinel.name} needs about ${mib(needed)} (${mib(sentinel.dataBytes)} of data and ${mib(WAL_ALLOWANCE)} for WAL), over WALSHIP_DRILL_DISK_BUDGET=${mib(config.drill.diskBudgetBytes)}`);
  }
  const fs = await statfs(parent);
  const free = fs.bavail * fs.bsize;
  if (needed > free) throw new WalshipError('DRILL_REFUSED', `a restore drill of ${sentinel.name} needs about ${mib(needed)}, and ${parent} has ${mib(free)} free`);
}

export async function restoreDrill(config: Config, archive: WalArchive, host: DrillHost, options: DrillOptions, log: Logger): Promise<DrillReport> {
  if (options.target) validateTarget({ ...options.target, action: 'promote', standby: false, restoreCommand: '' });
  const sentinel = await resolveBackup(archive.store, options.backup);
  const binaries = await findServerBinaries({ ...(config.drill.pgBin === undefined ? {} : { explicit: config.drill.pgBin }), path: host.path, major: majorOf(sentinel.pgVersion), needed: ['postgres', 'pg_controldata'] });
  const user = await serverUser(config.drill.user, host.path);
  const parent = config.drill.dir ?? host.tmpRoot;
  await refuseOverBudget(config, sentinel, parent);

  // One drill at a time per archive, and none while a backup runs (its
  // WAL would be racing the drill's reads; both load the same store).
  const lock = await acquireStoreLock(archive.store, DRILL_LOCK);
  try {
    const backupRunning = await lockHolder(archive.store, BACKUP_LOCK);
    if (backupRunning !== undefined) throw new WalshipError('BACKUP_LOCKED', `a backup is running (${backupRunning}): a restore drill waits for its end`);
    await sweepLeftovers(parent, log);
    return await drill(config, archive, host, options, log, { sentinel, binaries, user, parent });
  } finally {
    await lock.release();
  }
}

/**
 * Scratch directories of drills that did not clean up (a process killed
 * mid-drill): their server stopped, if one still runs, and deleted. Only
 * under the drill lock, so none of them is a drill under way.
 */
async function sweepLeftovers(parent: string, log: Logger): Promise<void> {
  for (const entry of await readdir(parent).catch(() => [] as string[])) {
    if (!entry.startsWith(SCRATCH_PREFIX)) continue;
    const dir = join(parent, entry);
    const dataDir = join(dir, 'data');
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    // The pid is the server's only if its command line names this data directory: pids are reused.
    const cmdline = pid > 0 ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '') : '';
    if (cmdline.split('\0').includes(dataDir)) {
      for (const sig of ['SIGQUIT', 'SIGKILL'] as const) {
        try {
          process.kill(pid, sig);
        } catch {
          break;
        }
        await sleep(2000);
      }
    }
    await rm(dir, { recursive: true, force: true });
    log.warn({ dir }, 'removed the scratch directory of an earlier restore drill that did not finish');
  }
}

interface Prepared {
  sentinel: BackupSentinel;
  binaries: ServerBinaries;
  user: ServerUser | undefined;
  parent: string;
}

async function drill(config: Config, archive: WalArchive, host: DrillHost, options: DrillOptions, log: Logger, p: Prepared): Promise<DrillReport> {
  const started = new Date();
  const deadline = started.getTime() + config.drill.timeoutMs;
  const report: DrillReport = {
    status: 'failure',
    backup: p.sentinel.name,
    startedAt: started.toISOString(),
    finishedAt: '',
    dataBytes: p.sentinel.dataBytes,
    postgres: { binDir: p.binaries.binDir, version: p.binaries.version },
    checks: [],
    cleanedUp: false,
  };
  const scratch = await mkdtemp(join(p.parent, SCRATCH_PREFIX));
  const own = async (path: string) => {
    if (p.user) await chown(path, p.user.uid, p.user.gid);
  };
  let server: DrillServer | undefined;
  let step: DrillStep = 'restore';
  log.info({ backup: p.sentinel.name, scratch }, 'restore drill started');
  try {
    await own(scratch);
    const dataDir = join(scratch, 'data');
    const socketDir = join(scratch, 'socket');
    await mkdir(socketDir, { mode: 0o700 });
    await own(socketDir);
    const hbaFile = join(scratch, 'pg_hba.conf');
    // trust, on a socket in a 0700 directory of the drill's user: nobody else reaches it.
    await writeFile(hbaFile, 'local all all trust\n', { mode: 0o600 });
    await own(hbaFile);

    const manifest: BackupManifest = await readManifest(archive.store, archive.codec, p.sentinel, archive.encryptedByDefault);
    const restoreCommand = `${shellQuote(host.node)} ${shellQuote(host.walshipBin)} wal-fetch %f %p`;
    const restoreStarted = Date.now();
    await backupFetch(
      archive,
      {
        dest: dataDir,
        backup: p.sentinel.name,
        delta: false,
        // Tablespaces into the scratch directory too: never over the source's locations.
        tablespaceMapping: new Map(manifest.tablespaces.map((t) => [t.oid, join(scratch, 'tablespaces', t.oid)])),
        recovery: { ...options.target, action: 'promote', standby: false, restoreCommand },
        concurrency: config.transfer.downloadConcurrency,
      },
      log,
      archive.encryptedByDefault,
    );
    // A cluster whose configuration lives elsewhere (Debian's /etc/postgresql) has none in its backup.
    const conf = join(dataDir, 'postgresql.conf');
    if (!(await stat(conf).catch(() => undefined))) {
      await writeFile(conf, '', { mode: 0o600 });
      await own(conf);
    }
    report.restoreSeconds = (Date.now() - restoreStarted) / 1000;

    step = 'recovery';
    const logFile = join(scratch, 'postgres.log');
    await writeFile(logFile, '', { mode: 0o600 });
    await own(logFile);
    refuseIfStopped(options.signal);
    // Not the primary's PGDATA: nothing the server runs should take it for its own.
    const { PGDATA: _primary, ...serverEnv } = host.env;
    server = new DrillServer({ binDir: p.binaries.binDir, dataDir, socketDir, logFile, hbaFile, user: p.user, env: serverEnv });
    const recoveryStarted = Date.now();
    server.start();
    const role = config.pg.user ?? 'postgres';
    await server.waitReady(role, deadline, options.signal);
    report.recoverySeconds = (Date.now() - recoveryStarted) / 1000;
    report.rtoSeconds = report.restoreSeconds + report.recoverySeconds;

    step = 'checks';
    refuseIfStopped(options.signal);
    const connect = async (database: string) => {
      const c = server!.client(database, role);
      c.on('error', () => undefined);
      await c.connect();
      return c;
    };
    const client = await connect('postgres');
    try {
      report.checks.push(consistent(await server.log()));
      report.checks.push(await acceptsQueries(client));
      const { rows } = await client.query<{ lsn: string; at: Date | null }>('select pg_last_wal_replay_lsn()::text as lsn, pg_last_xact_replay_timestamp() as at');
      const at = rows[0]!.at;
      report.recoveredTo = { lsn: rows[0]!.lsn, time: (at ?? new Date(p.sentinel.finishTime)).toISOString(), timeFrom: at ? 'last-transaction' : 'backup-end' };
      if (options.amcheck) report.checks.push(await amcheck(connect, client));
      if (options.query !== undefined) report.checks.push(await userQuery(client, options.query));
    } finally {
      await client.end().catch(() => undefined);
    }

    step = 'stop';
    if (!(await server.stop())) throw new WalshipError('DRILL_FAILED', `PostgreSQL did not stop cleanly within a minute:\n${await server.logTail()}`);
    report.checks.push(await controlData(p.binaries.binDir, dataDir, p.user, manifest, host.path));
    const failed = report.checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      step = 'checks';
      throw new WalshipError('DRILL_FAILED', failed.map((c) => `${c.name}: ${c.detail}`).join('; '));
    }
    report.status = 'ok';
  } catch (err) {
    const e = asWalshipError(err);
    const serverLog = server && step === 'recovery' && !e.message.includes('\n') ? `\n${await server.logTail()}` : '';
    report.failure = { step, code: e.code, message: `${e.message}${serverLog}` };
  } finally {
    const stopped = server ? (await server.stop().catch(() => false), !server.running) : true;
    await rm(scratch, { recursive: true, force: true, maxRetries: 3 });
    report.cleanedUp = stopped && !(await stat(scratch).catch(() => undefined));
  }
  const finished = new Date();
  report.finishedAt = finished.toISOString();
  if (report.recoveredTo) report.rpoSeconds = (finished.getTime() - Date.parse(report.recoveredTo.time)) / 1000;
  log[report.status === 'ok' ? 'info' : 'error'](
    { backup: report.backup, status: report.status, rpoSeconds: report.rpoSeconds, rtoSeconds: report.rtoSeconds, ...(report.failure ? { step: report.failure.step, code: report.failure.code } : {}) },
    report.failure ? `restore drill failed: ${report.failure.message}` : 'restore drill succeeded',
  );
  return report;
}
