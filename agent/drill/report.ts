import type { ErrorCode } from '../errors.ts';

// What a restore drill proved, or where it failed: the text and JSON of
// restore-drill, and what the agent's metrics are set from.

export type DrillStep = 'restore' | 'recovery' | 'checks' | 'stop';

export interface DrillCheck {
  name: 'consistent' | 'accepts-queries' | 'controldata' | 'amcheck' | 'query';
  ok: boolean;
  detail: string;
}

export interface DrillReport {
  status: 'ok' | 'failure';
  backup: string;
  startedAt: string;
  finishedAt: string;
  /** Where recovery ended: the last replayed LSN, and the commit time of the last replayed transaction (or the backup's end, when none was replayed). */
  recoveredTo?: { lsn: string; time: string; timeFrom: 'last-transaction' | 'backup-end' };
  /** finishedAt's "now" minus recoveredTo.time: how much would be lost, proven. */
  rpoSeconds?: number;
  restoreSeconds?: number;
  recoverySeconds?: number;
  /** restore + recovery: how long a real restore takes, proven. */
  rtoSeconds?: number;
  dataBytes: number;
  postgres?: { binDir: string; version: string };
  checks: DrillCheck[];
  failure?: { step: DrillStep; code: ErrorCode; message: string };
  /** The scratch directory was deleted and no server of it is left running. */
  cleanedUp: boolean;
}

export function formatDrillReport(r: DrillReport): string[] {
  const s = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(1)} s`);
  const lines = [
    `restore drill of ${r.backup}: ${r.status}`,
    `  recovered to: ${r.recoveredTo ? `${r.recoveredTo.lsn} at ${r.recoveredTo.time} (${r.recoveredTo.timeFrom})` : '-'}`,
    `  RPO: ${s(r.rpoSeconds)}; RTO: ${s(r.rtoSeconds)} (restore ${s(r.restoreSeconds)}, recovery ${s(r.recoverySeconds)})`,
    ...(r.postgres ? [`  PostgreSQL ${r.postgres.version} from ${r.postgres.binDir}`] : []),
    ...r.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
  ];
  if (r.failure) lines.push(`  failed at ${r.failure.step}: ${r.failure.code}: ${r.failure.message}`);
  lines.push(`  scratch directory ${r.cleanedUp ? 'deleted, no server left running' : 'NOT cleaned up'}`);
  return lines;
}
