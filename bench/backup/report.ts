import type { MachineInfo } from '../lib/machine.ts';
import type { MeasuredRun } from '../lib/measured-run.ts';
import { formatNumber, formatTable, type Cell } from '../lib/table.ts';

// Figures of one operation, the side-by-side table and the JSON record.
// Ratios are walship ÷ pgBackRest: below 1× is better for times, CPU,
// memory and size; above 1× for throughput.

export type Operation = 'backup' | 'restore' | 'delta';

export interface OperationFigures {
  wallSeconds: number;
  /** Database bytes (the data directory without pg_wal) per wall second, MB = 10^6 bytes. */
  mbPerSecond: number;
  cpuSeconds?: number;
  userSeconds: number;
  systemSeconds: number;
  /** Largest single process (GNU time %M). */
  peakRssMiB: number;
  /** All the tool's processes together, sampled every 50 ms. */
  peakTreeRssMiB?: number;
  maxToolProcesses?: number;
  processes?: MeasuredRun['processes'];
  threads?: MeasuredRun['threads'];
  loadAtStart: number[];
  /** backup only */
  storedBytes?: number;
  storedPercent?: number;
  reportedDataBytes?: number;
  /** What the tool printed. */
  summary: string;
  /** The run's moments from the tool's own log, seconds after spawn. */
  timeline: { atSeconds: number; event: string }[];
}

export interface ToolResults {
  id: string;
  label: string;
  settings: string;
  backupName: string;
  backup: OperationFigures;
  restore: OperationFigures;
  delta?: OperationFigures;
  /** The restored copy started, recovered from the tool's WAL archive and held the source's rows. */
  verified?: boolean;
}

export interface BackupBenchReport {
  startedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  loadAtEnd: number[];
  settings: Record<string, unknown>;
  database: { scale: number; dataDirBytes: number; databaseSizeBytes: number; generateSeconds: number };
  order: string[];
  tools: ToolResults[];
  ratios: Record<string, Record<string, number>>;
}

export function figures(run: MeasuredRun, dbBytes: number, summary: string, timeline: OperationFigures['timeline'], extra: Partial<OperationFigures> = {}): OperationFigures {
  return {
    wallSeconds: run.wallSeconds,
    mbPerSecond: dbBytes / 1e6 / run.wallSeconds,
    ...(run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {}),
    userSeconds: run.userSeconds,
    systemSeconds: run.systemSeconds,
    peakRssMiB: run.peakRssKiB / 1024,
    ...(run.peakTreeRssKiB !== undefined ? { peakTreeRssMiB: run.peakTreeRssKiB / 1024, maxToolProcesses: run.maxToolProcesses!, processes: run.processes!, threads: run.threads! } : {}),
    loadAtStart: run.loadAtStart,
    summary,
    timeline,
    ...extra,
  };
}

interface Metric {
  label: string;
  value: (f: OperationFigures) => number | undefined;
  digits?: number;
  ratio?: boolean;
}

const METRICS: Metric[] = [
  { label: 'wall (s)', value: (f) => f.wallSeconds, digits: 2, ratio: true },
  { label: 'MB/s (database bytes / s)', value: (f) => f.mbPerSecond, ratio: true },
  { label: 'CPU user+sys, whole tree (s)', value: (f) => f.cpuSeconds, digits: 2, ratio: true },
  { label: '  user (s)', value: (f) => f.userSeconds, digits: 2 },
  { label: '  sys (s)', value: (f) => f.systemSeconds, digits: 2 },
  { label: 'peak RSS, largest process (MiB)', value: (f) => f.peakRssMiB, ratio: true },
  { label: 'peak RSS, all processes (MiB)', value: (f) => f.peakTreeRssMiB, ratio: true },
  { label: 'tool processes', value: (f) => f.maxToolProcesses, digits: 0 },
  { label: 'load average (1 min) at start', value: (f) => f.loadAtStart[0], digits: 2 },
];

const BACKUP_ONLY: Metric[] = [
  { label: 'stored size (MB)', value: (f) => (f.storedBytes === undefined ? undefined : f.storedBytes / 1e6), ratio: true },
  { label: 'stored size (% of database)', value: (f) => f.storedPercent, digits: 2 },
];

const OPERATION_TITLES: Record<Operation, string> = {
  backup: 'FULL BACKUP',
  restore: 'RESTORE into an empty directory',
  delta: 'DELTA RESTORE over the restored directory (nothing changed)',
};

export function ratiosAndTable(tools: readonly ToolResults[], baselineId: string): { table: string; ratios: Record<string, Record<string, number>> } {
  const baseline = tools.find((t) => t.id === baselineId);
  const ours = tools.filter((t) => t.id !== baselineId);
  const header = ['', ...tools.map((t) => t.label), ...ours.map((t) => `${t.id} ÷ pgBR`)];
  const rows: Cell[][] = [];
  const ratios: Record<string, Record<string, number>> = {};
  for (const op of ['backup', 'restore', 'delta'] as const) {
    if (!tools.some((t) => t[op])) continue;
    rows.push([`${OPERATION_TITLES[op]}:`, ...header.slice(1).map(() => '')]);
    for (const m of op === 'backup' ? [...METRICS, ...BACKUP_ONLY] : METRICS) {
      const digits = m.digits ?? 1;
      const cells: Cell[] = [m.label, ...tools.map((t) => formatNumber(t[op] ? m.value(t[op]!) : undefined, digits))];
      for (const t of ours) {
        const a = t[op] ? m.value(t[op]!) : undefined;
        const b = baseline?.[op] ? m.value(baseline[op]!) : undefined;
        if (m.ratio && a !== undefined && b !== undefined && b !== 0 && Number.isFinite(a / b)) {
          cells.push(`${(a / b).toFixed(2)}×`);
          (ratios[`${t.id} ÷ ${baselineId}`] ??= {})[`${op} ${m.label.trim()}`] = a / b;
        } else cells.push('');
      }
      rows.push(cells);
    }
  }
  rows.push(['restored copy starts and holds the data', ...tools.map((t) => (t.verified === undefined ? 'not checked' : t.verified ? 'yes' : 'NO')), ...ours.map(() => '')]);
  return { table: formatTable(header, rows), ratios };
}

export function formatReport(report: BackupBenchReport, table: string): string {
  const m = report.machine;
  const db = report.database;
  const lines = [
    '',
    `walship vs pgBackRest: full backup and restore of a pgbench -s ${db.scale} database (${(db.dataDirBytes / 1e6).toFixed(0)} MB data directory without pg_wal; pg_database_size ${(db.databaseSizeBytes / 1e6).toFixed(0)} MB)`,
    `machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}; load average ${m.loadAtStart.join(' ')} at start, ${report.loadAtEnd.join(' ')} at end (2 cores shared with other work)`,
    `versions: ${m.postgres}; ${m.pgbackrest}; Node ${m.node}`,
    `order: ${report.order.join(' → ')} (backups in this order while the source runs, then the restores in the same order with the source stopped)`,
    ...report.tools.map((t) => `${t.label}: ${t.settings}`),
    '',
    table,
    '',
    'CPU: every process of the run (runuser, GNU time, the tool and its workers) in its own cpuacct cgroup. RSS, largest process: GNU time %M (ru_maxrss: the biggest single process, not a sum);',
    'all processes: the summed VmRSS of the tool\'s processes (node / pgbackrest) sampled every 50 ms. Reads come from the page cache (the database was just written; caches are not dropped on a shared machine).',
    'Restores: walship backup-fetch --no-recovery, pgBackRest restore --type=none: both write the data files and backup_label and no recovery settings.',
    ...report.tools.map((t) => `  ${t.label}: backup "${t.backup.summary}"; restore "${t.restore.summary}"${t.delta ? `; delta "${t.delta.summary}"` : ''}`),
    'CPU by thread (sampled from /proc every 50 ms; "MainThread" is walship\'s event loop, libuv-worker its file I/O and lz4 threadpool):',
    ...report.tools.flatMap((t) =>
      (['backup', 'restore', 'delta'] as const).flatMap((op) => {
        const f = t[op];
        return f?.threads ? [`  ${t.label} ${op}: ${f.threads.map((k) => `${k.kind}${k.threads > 1 ? ` ×${k.threads}` : ''} ${k.cpuSeconds.toFixed(2)} s`).join(', ')}`] : [];
      }),
    ),
    'Where the time goes, from each tool\'s own log (seconds after the command was spawned; walship at debug level, pgBackRest\'s main process at info):',
    ...report.tools.flatMap((t) =>
      (['backup', 'restore', 'delta'] as const).flatMap((op) => {
        const f = t[op];
        return f ? [`  ${t.label} ${op}: ${f.timeline.map((e) => `${e.atSeconds.toFixed(2)} ${e.event}`).join(' | ')}`] : [];
      }),
    ),
    `Ratios are walship ÷ pgBackRest: below 1× is better for times, CPU, memory and size, above 1× for MB/s. Run took ${report.durationSeconds.toFixed(0)} s.`,
  ];
  return lines.join('\n');
}
