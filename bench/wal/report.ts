import type { MachineInfo } from '../lib/machine.ts';
import type { Summary } from '../lib/stats.ts';
import { formatNumber, formatTable, type Cell } from '../lib/table.ts';
import type { WrapperOverhead } from '../lib/timing-wrapper.ts';
import type { ArchiveResult } from './archive-run.ts';
import type { RecoveryResult } from './recovery-run.ts';

// The side-by-side table and the JSON record of one run. Ratios are
// walship's figure divided by pgBackRest's: below 1 is better for times,
// above 1 is better for throughputs.

export interface WalBenchReport {
  startedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  loadAtEnd: number[];
  settings: Record<string, unknown>;
  wrapperOverheadMs: { atStart: WrapperOverhead; atEnd: WrapperOverhead };
  archive: ArchiveResult[];
  recovery: RecoveryResult[];
  ratios: Record<string, Record<string, number>>;
}

interface Metric<R> {
  label: string;
  value: (r: R) => number | undefined;
  digits?: number;
  /** Compared in the ratio columns. */
  ratio?: boolean;
}

const archiveMetrics: Metric<ArchiveResult>[] = [
  { label: 'archive_command median (ms)', value: (r) => r.commandMs.median, ratio: true },
  { label: 'archive_command p99 (ms)', value: (r) => r.commandMs.p99, ratio: true },
  { label: 'archive_command mean (ms)', value: (r) => r.commandMs.mean, ratio: true },
  { label: 'at a steady pace: archive_command median (ms)', value: (r) => r.paced?.commandMs.median, ratio: true },
  { label: 'at a steady pace: archive_command p99 (ms)', value: (r) => r.paced?.commandMs.p99, ratio: true },
  { label: 'throughput (segments/s)', value: (r) => r.segmentsPerSecond, digits: 2, ratio: true },
  { label: 'throughput (MiB/s)', value: (r) => r.mibPerSecond, ratio: true },
  { label: 'load → last archived (s)', value: (r) => r.totalSeconds, ratio: true },
  { label: '  of which pgbench load (s)', value: (r) => r.loadSeconds },
  { label: '  of which drain after load (s)', value: (r) => r.drainSeconds, digits: 2, ratio: true },
  { label: 'segments archived', value: (r) => r.segments, digits: 0 },
  { label: 'failed archive_command calls', value: (r) => r.failedCalls, digits: 0 },
  { label: 'tool CPU (s)', value: (r) => r.toolCpuSeconds, digits: 2, ratio: true },
  { label: 'tool CPU per segment (ms)', value: (r) => r.toolCpuMsPerSegment, ratio: true },
  { label: 'stored size (% of WAL)', value: (r) => r.storedRatio * 100, digits: 2, ratio: true },
  { label: 'load average (1 min) at start', value: (r) => r.loadAverage[0], digits: 2 },
];

const recoveryMetrics: Metric<RecoveryResult>[] = [
  { label: 'start → promoted (s)', value: (r) => r.replaySeconds, digits: 2, ratio: true },
  { label: 'segments replayed', value: (r) => r.segmentsReplayed, digits: 0 },
  { label: 'replay (segments/s)', value: (r) => r.segmentsPerSecond, digits: 2, ratio: true },
  { label: 'replay (MiB/s)', value: (r) => r.mibPerSecond, ratio: true },
  { label: 'restore_command median (ms)', value: (r) => r.commandMs.median, ratio: true },
  { label: 'restore_command p99 (ms)', value: (r) => r.commandMs.p99, ratio: true },
  { label: 'tool CPU (s)', value: (r) => r.toolCpuSeconds, digits: 2, ratio: true },
  { label: 'tool CPU per segment (ms)', value: (r) => r.toolCpuMsPerSegment, ratio: true },
  { label: 'load average (1 min) at start', value: (r) => r.loadAverage[0], digits: 2 },
];

/** Short names for the ratio columns' headers, which otherwise make the table too wide for a terminal. */
const SHORT: Record<string, string> = {
  'walship-agent': 'walship agent',
  'pgbackrest-sync': 'pgBR sync',
  'pgbackrest-async': 'pgBR async',
  'pgbackrest-get-sync': 'pgBR sync get',
  'pgbackrest-get-async': 'pgBR async get',
};

function section<R extends { id: string; label: string }>(
  title: string,
  results: readonly R[],
  metrics: readonly Metric<R>[],
  ours: string,
  theirs: readonly string[],
): { rows: Cell[][]; ratios: Record<string, Record<string, number>> } {
  const byId = new Map(results.map((r) => [r.id, r]));
  const mine = byId.get(ours);
  const ratios: Record<string, Record<string, number>> = {};
  const rows: Cell[][] = [[`${title}:`, ...results.map((r) => r.label), ...theirs.map((t) => `${SHORT[ours] ?? ours} ÷ ${SHORT[t] ?? t}`)]];
  for (const m of metrics) {
    const digits = m.digits ?? 1;
    const cells: Cell[] = [m.label, ...results.map((r) => formatNumber(m.value(r), digits))];
    for (const t of theirs) {
      const other = byId.get(t);
      const a = mine ? m.value(mine) : undefined;
      const b = other ? m.value(other) : undefined;
      if (m.ratio && a !== undefined && b !== undefined && b !== 0) {
        cells.push(`${(a / b).toFixed(2)}×`);
        (ratios[`${ours} ÷ ${t}`] ??= {})[m.label.trim()] = a / b;
      } else cells.push('');
    }
    rows.push(cells);
  }
  return { rows, ratios };
}

export function ratiosAndTable(archive: readonly ArchiveResult[], recovery: readonly RecoveryResult[]): { table: string; ratios: Record<string, Record<string, number>> } {
  const a = section('ARCHIVING', archive, archiveMetrics, 'walship-agent', ['pgbackrest-sync', 'pgbackrest-async']);
  const r = section('RECOVERY', recovery, recoveryMetrics, 'walship-agent', ['pgbackrest-get-sync', 'pgbackrest-get-async']);
  const width = Math.max(...[...a.rows, ...r.rows].map((row) => row.length));
  const pad = (row: Cell[]) => [...row, ...Array<Cell>(width - row.length).fill('')];
  const [aHead, ...aRows] = a.rows;
  const [rHead, ...rRows] = r.rows;
  const table = [formatTable(pad(aHead!).map(String), aRows.map(pad)), '', formatTable(pad(rHead!).map(String), rRows.map(pad))].join('\n');
  return { table, ratios: { ...a.ratios, ...r.ratios } };
}

const ms = (s: Summary) => `median ${s.median.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`;

export function formatReport(report: WalBenchReport, table: string): string {
  const m = report.machine;
  const lines = [
    '',
    `walship vs pgBackRest: WAL archiving and recovery, ${report.settings.segmentsRequested} segments requested (pgbench -i -s ${report.settings.pgbenchScale})`,
    `machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}; load average ${m.loadAtStart.join(' ')} at start, ${report.loadAtEnd.join(' ')} at end`,
    `versions: ${m.postgres}; ${m.pgbackrest}; Node ${m.node}`,
    ...(['atStart', 'atEnd'] as const).map((when) => {
      const o = report.wrapperOverheadMs[when];
      return `timing wrapper overhead ${when === 'atStart' ? 'at start' : 'at end  '} (in every command figure): builtin no-op ${ms(o.builtinNoop)}; /bin/true ${ms(o.execNoop)}`;
    }),
    '',
    table,
    '',
  ];
  const paced = report.archive.find((r) => r.paced)?.paced;
  if (paced) {
    lines.push(`steady pace: ${paced.segments} segments, one every ${paced.intervalMs} ms (row inserts, then a segment switch), before the pgbench load, with spare CPU.`);
  }
  for (const r of report.archive) {
    if (r.paced?.agent) {
      const a = r.paced.agent;
      lines.push(`walship agent, at a steady pace: inside the agent per archive_command ${ms(a.handlerMs)}; outside it (client, spool, wrapper) ${ms(a.outsideHandlerMs)}, of which queued for the agent ${ms(a.queuedMs)}; ${a.preEncoded} of ${a.uploadsAhead} followed while written`);
    }
    if (r.agent) {
      lines.push(
        `walship agent, archiving: inside the agent per archive_command ${ms(r.agent.handlerMs)}; outside it (client, spool, wrapper) ${ms(r.agent.outsideHandlerMs)}, of which queued for the agent ${ms(r.agent.queuedMs)}; ` +
          `${r.agent.uploadsAhead} segments uploaded ahead of the archiver (${r.agent.preEncoded} followed while written), each ${ms(r.agent.uploadAheadMs)}`,
      );
    }
  }
  for (const r of report.recovery) {
    if (r.agent) {
      lines.push(`walship agent, recovery: inside the agent per delivered segment ${ms(r.agent.handlerMs)}; outside it (client, spool, wrapper) ${ms(r.agent.outsideHandlerMs)}, of which queued for the agent ${ms(r.agent.queuedMs)} (${r.agent.served} served)`);
    }
  }
  lines.push(`ratios are walship agent ÷ pgBackRest: below 1× is better for times and sizes, above 1× for throughputs. Run took ${report.durationSeconds.toFixed(0)} s.`);
  return lines.join('\n');
}
