import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WALSHIP_BIN } from '../../test/support/cli.ts';
import { pgExec, type PgCluster } from '../../test/support/pg-cluster.ts';
import type { Cleanup } from '../lib/cleanup.ts';
import { dirBytes } from '../lib/disk.ts';
import { measuredRun, runFailure, type MeasuredRun } from '../lib/measured-run.ts';
import { STANZA, archiveGetCommand, writePgBackRestConfig, type PgBackRestSetup } from '../lib/pgbackrest.ts';
import { standaloneFetchCommand, storeEnv } from '../lib/walship.ts';

// The two tools behind one interface: take a full backup of the running
// source cluster, restore it into a directory (empty, or over a previous
// restore for a delta), and say how PostgreSQL would fetch WAL for a
// restored copy (to start it and check the data). Every command runs as
// the postgres user, through bench/lib/measured-run.ts.

/** A moment of the run from the tool's own log, seconds after the command was spawned. */
export interface TimelineEvent {
  atSeconds: number;
  event: string;
}

export interface BackupResult {
  run: MeasuredRun;
  timeline: TimelineEvent[];
  /** The tool's name for the backup: walship's base_<WAL>, pgBackRest's label. */
  name: string;
  /** Bytes the backup occupies in the store or repo (data parts, manifest, sentinel/info). */
  storedBytes: number;
  /** The data size the tool itself reports for the backup. */
  reportedDataBytes?: number;
  /** What the tool printed, shortened. */
  summary: string;
}

export interface BackupTool {
  id: string;
  label: string;
  /** What the tool ran with, for the report. */
  settings: string;
  backup(): Promise<BackupResult>;
  restore(backup: string, dir: string, delta: boolean): Promise<{ run: MeasuredRun; summary: string; timeline: TimelineEvent[] }>;
  /** restore_command and postmaster environment for starting a restored copy. */
  recoveryFor(dir: string): Promise<{ restoreCommand: string; env: Record<string, string> }>;
}

export interface ToolContext {
  cleanup: Cleanup;
  source: PgCluster;
  /** A postgres-writable directory for GNU time files and profiles. */
  workDir: string;
  /** Node flags for walship processes, e.g. --cpu-prof. */
  nodeFlags: readonly string[];
  /** Extra environment for walship processes (from --walship-env). */
  walshipEnv: Record<string, string>;
}

const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';
const round = (s: number) => Math.round(s * 1000) / 1000;

/** walship's JSON log lines (debug: they hold the backup's phases), as seconds since spawn, then the exit. */
function walshipTimeline(run: MeasuredRun): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  for (const line of run.stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as { time?: string; msg?: string };
      if (l.time && l.msg) events.push({ atSeconds: round((Date.parse(l.time) - run.startedAtMs) / 1000), event: l.msg });
    } catch {
      // not a log line
    }
  }
  return [...events, { atSeconds: round(run.wallSeconds), event: 'exit' }];
}

/**
 * pgBackRest's file log (local time, millisecond stamps) for the run: the
 * main process's (P00) info lines of the last command begun, as seconds
 * since spawn, then the exit.
 */
async function pgBackRestTimeline(logFile: string, run: MeasuredRun): Promise<TimelineEvent[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const events: TimelineEvent[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) P00\s+INFO: (.*)$/.exec(line);
    if (!m) continue;
    const at = new Date(`${m[1]}T${m[2]}`).getTime();
    if (at < run.startedAtMs - 1000) continue;
    if (/command begin/.test(m[3]!)) events.length = 0;
    events.push({ atSeconds: round((at - run.startedAtMs) / 1000), event: m[3]!.replace(/^(\w+ command begin [\d.]+):.*$/, '$1').slice(0, 120) });
  }
  return [...events, { atSeconds: round(run.wallSeconds), event: 'exit' }];
}

export function walshipTool(ctx: ToolContext, store: string, concurrency: number): BackupTool {
  const id = `walship-c${concurrency}`;
  const env = {
    ...storeEnv(store),
    WALG_UPLOAD_CONCURRENCY: String(concurrency),
    WALG_DOWNLOAD_CONCURRENCY: String(concurrency),
  };
  let runs = 0;
  const walship = (op: string, args: readonly string[], extraEnv: Record<string, string> = {}) =>
    measuredRun(ctx.cleanup, {
      name: `${id}-${op}-${++runs}`,
      command: process.execPath,
      args: [...ctx.nodeFlags, WALSHIP_BIN, ...args],
      // debug: the backup's phases (started, waiting for the stop segment, complete) with timestamps.
      env: { ...env, WALSHIP_LOG_LEVEL: 'debug', ...ctx.walshipEnv, ...extraEnv },
      asPostgres: true,
      workDir: ctx.workDir,
      toolExes: ['node'],
    });
  return {
    id,
    label: `walship (concurrency ${concurrency})`,
    settings: `filesystem store (WALG_FILE_PREFIX) on the same disk, lz4, WALG_UPLOAD_CONCURRENCY=WALG_DOWNLOAD_CONCURRENCY=${concurrency}, parts of 256 MiB (WALSHIP_BACKUP_PART_SIZE default)`,
    async backup() {
      const s = ctx.source;
      const run = await walship('backup-push', ['backup-push'], { PGHOST: s.socketDir, PGPORT: String(s.port), PGUSER: 'postgres', PGDATA: s.dataDir });
      if (run.exitCode !== 0) throw runFailure('walship backup-push', run);
      const m = /^(base_[0-9A-F]{24}(?:_\d+)?): /m.exec(run.stdout);
      if (!m) throw runFailure('walship backup-push (no backup name printed)', run);
      const name = m[1]!;
      const sentinel = join(store, 'basebackups_005', `${name}_backup_stop_sentinel.json`);
      const storedBytes = (await dirBytes(join(store, 'basebackups_005', name))) + (await stat(sentinel)).size;
      const info = await pgExec(process.execPath, [WALSHIP_BIN, 'backup-show', name], env);
      const reportedDataBytes = (JSON.parse(info.stdout) as { dataBytes?: number }).dataBytes;
      return { run, timeline: walshipTimeline(run), name, storedBytes, ...(reportedDataBytes !== undefined ? { reportedDataBytes } : {}), summary: lastLine(run.stdout) };
    },
    async restore(backup, dir, delta) {
      // --no-recovery: the files and backup_label only, as pgBackRest's --type=none.
      const run = await walship(delta ? 'delta' : 'restore', ['backup-fetch', dir, backup, '--no-recovery', ...(delta ? ['--delta'] : [])]);
      if (run.exitCode !== 0) throw runFailure(`walship backup-fetch${delta ? ' (delta)' : ''}`, run);
      return { run, summary: lastLine(run.stdout), timeline: walshipTimeline(run) };
    },
    async recoveryFor() {
      return { restoreCommand: standaloneFetchCommand(), env: storeEnv(store) };
    },
  };
}

interface PgBackRestInfo {
  backup: { label: string; type: string; info: { size: number; delta: number; repository: { size: number; delta: number } } }[];
}

/** config: written by writePgBackRestConfig, whose log-path is log/ beside it. */
export function pgBackRestTool(ctx: ToolContext, setup: PgBackRestSetup, config: string): BackupTool {
  const logFile = (command: string) => join(dirname(config), 'log', `${STANZA}-${command}.log`);
  let runs = 0;
  const pgbackrest = (op: string, args: readonly string[]) =>
    measuredRun(ctx.cleanup, {
      name: `pgbackrest-${op}-${++runs}`,
      command: '/usr/bin/pgbackrest',
      args: [`--config=${config}`, `--stanza=${STANZA}`, ...args],
      env: {},
      asPostgres: true,
      workDir: ctx.workDir,
      toolExes: ['pgbackrest'],
    });
  return {
    id: 'pgbackrest',
    label: 'pgBackRest',
    settings: 'posix repo on the same disk, compress-type=lz4, process-max=2, start-fast, archive-check (waits for the stop segment, as walship does), log-level-file=info',
    async backup() {
      const run = await pgbackrest('backup', ['--type=full', '--start-fast', 'backup']);
      if (run.exitCode !== 0) throw runFailure('pgbackrest backup', run);
      const info = JSON.parse((await pgExec('/usr/bin/pgbackrest', [`--config=${config}`, `--stanza=${STANZA}`, '--output=json', 'info'])).stdout) as PgBackRestInfo[];
      const last = info[0]!.backup.at(-1)!;
      const storedBytes = await dirBytes(join(setup.repoPath, 'backup', STANZA, last.label));
      return {
        run,
        timeline: await pgBackRestTimeline(logFile('backup'), run),
        name: last.label,
        storedBytes,
        reportedDataBytes: last.info.size,
        summary: `${last.label}: ${last.type}, database ${last.info.size} bytes, repository ${last.info.repository.size} bytes`,
      };
    },
    async restore(backup, dir, delta) {
      // --type=none: no recovery settings (restore_command, recovery.signal) written, as walship's --no-recovery;
      // archive-mode stays at its default (preserve), so postgresql.auto.conf is restored as backed up, not rewritten.
      const run = await pgbackrest(delta ? 'delta' : 'restore', [`--pg1-path=${dir}`, `--set=${backup}`, '--type=none', ...(delta ? ['--delta'] : []), 'restore']);
      if (run.exitCode !== 0) throw runFailure(`pgbackrest restore${delta ? ' --delta' : ''}`, run);
      const timeline = await pgBackRestTimeline(logFile('restore'), run);
      return { run, summary: timeline.find((e) => /restore size/.test(e.event))?.event ?? 'ok', timeline };
    },
    async recoveryFor(dir) {
      const getConfig = await writePgBackRestConfig(setup, { name: `get-${dir.split('/').at(-2)}`, pgData: dir, async: false });
      return { restoreCommand: archiveGetCommand(getConfig), env: {} };
    },
  };
}
