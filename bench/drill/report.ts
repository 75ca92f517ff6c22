import type { MachineInfo } from '../lib/machine.ts';
import { median } from '../lib/stats.ts';
import { formatNumber, formatTable } from '../lib/table.ts';

// The drill bench's record (bench/drill/results.json) and its table: per
// measurement, the median of the repeats and their spread (min–max), so a
// run on the shared machine says how much its figures moved.

/** One repeat of one measurement. */
export interface Sample {
  round: number;
  wallSeconds: number;
  cpuSeconds?: number;
  /** Largest sum of the RSS of all the run's processes at once (node and, for the drill, postgres), MiB. */
  peakTreeRssMiB?: number;
  /** Largest single process, MiB. */
  peakRssMiB: number;
  /** Data directory bytes (without pg_wal) per second of wall time, MB/s. */
  mbPerSecond: number;
  loadAtStart: number[];
  /** restore-drill only: its own --json report's phases. */
  drill?: { restoreSeconds: number; recoverySeconds: number; rtoSeconds: number; rpoSeconds: number; status: string };
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface Measurement {
  id: string;
  label: string;
  settings: string;
  samples: Sample[];
  wallSeconds: Spread;
  mbPerSecond: Spread;
  peakTreeRssMiB?: Spread;
  peakRssMiB: Spread;
  restoreSeconds?: Spread;
  recoverySeconds?: Spread;
}

export interface DrillBenchReport {
  startedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  loadAtEnd: number[];
  settings: Record<string, unknown>;
  database: { scale: number; dataDirBytes: number; walAfterBackupSegments: number; generateSeconds: number };
  repeats: number;
  measurements: Measurement[];
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export function measurement(id: string, label: string, settings: string, samples: Sample[]): Measurement {
  const of = (pick: (s: Sample) => number | undefined) => {
    const values = samples.map(pick).filter((v): v is number => v !== undefined);
    return values.length === samples.length ? spread(values) : undefined;
  };
  const tree = of((s) => s.peakTreeRssMiB);
  const restore = of((s) => s.drill?.restoreSeconds);
  const recovery = of((s) => s.drill?.recoverySeconds);
  return {
    id,
    label,
    settings,
    samples,
    wallSeconds: of((s) => s.wallSeconds)!,
    mbPerSecond: of((s) => s.mbPerSecond)!,
    ...(tree ? { peakTreeRssMiB: tree } : {}),
    peakRssMiB: of((s) => s.peakRssMiB)!,
    ...(restore ? { restoreSeconds: restore } : {}),
    ...(recovery ? { recoverySeconds: recovery } : {}),
  };
}

const cell = (s: Spread | undefined, digits = 1) => (s ? `${formatNumber(s.median, digits)} (${formatNumber(s.min, digits)}–${formatNumber(s.max, digits)})` : '—');

export function formatReport(r: DrillBenchReport): string {
  const table = formatTable(
    ['', 'wall s', 'MB/s of data dir', 'restore s', 'recovery s', 'peak RSS, all processes MiB', 'largest process MiB'],
    r.measurements.map((m) => [m.label, cell(m.wallSeconds), cell(m.mbPerSecond, 0), cell(m.restoreSeconds), cell(m.recoverySeconds), cell(m.peakTreeRssMiB, 0), cell(m.peakRssMiB, 0)]),
  );
  return [
    `restore drill bench, ${r.startedAt}: pgbench -s ${r.database.scale}, data directory ${(r.database.dataDirBytes / 1e6).toFixed(0)} MB without pg_wal, ${r.database.walAfterBackupSegments} WAL segments archived after the backup`,
    `${r.machine.cores} cores (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB; load ${r.machine.loadAtStart.join(' ')} at start, ${r.loadAtEnd.join(' ')} at end; median (min–max) of ${r.repeats} interleaved rounds`,
    table,
  ].join('\n');
}
