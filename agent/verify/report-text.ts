import type { WalVerifyReport } from './wal-verify.ts';
import { WalshipError } from '../errors.ts';

// wal-verify's output: WAL-G's plain-text layout, and the error a FAILURE
// exits with, naming the first range lost.

export function reportLines(report: WalVerifyReport): string[] {
  const lines: string[] = [];
  if (report.integrity) {
    lines.push(`[wal-verify] integrity check status: ${report.integrity.status}`, '[wal-verify] integrity check details:');
    const rows = [['TLI', 'Start', 'End', 'Segments count', 'Status'], ...report.integrity.details.map((d) => [String(d.timeline_id), d.start_segment, d.end_segment, String(d.segments_count), d.status])];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) lines.push(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  }
  if (report.timeline) {
    lines.push(`[wal-verify] timeline check status: ${report.timeline.status}`, '[wal-verify] timeline check details:');
    lines.push(`Highest timeline found in storage: ${report.timeline.details.highest_storage_timeline_id}`, `Current cluster timeline: ${report.timeline.details.current_timeline_id}`);
  }
  return lines;
}

export function failureError(report: WalVerifyReport): WalshipError | undefined {
  const lost = report.integrity?.details.filter((d) => d.status === 'MISSING_LOST') ?? [];
  if (lost.length > 0) {
    const count = lost.reduce((a, d) => a + d.segments_count, 0);
    const ranges = lost.map((d) => (d.start_segment === d.end_segment ? d.start_segment : `${d.start_segment}..${d.end_segment}`)).join(', ');
    return new WalshipError('WAL_VERIFY_FAILED', `integrity: ${count} segment(s) missing from the archive: ${ranges}; a point-in-time recovery cannot cross them: put them back, or take a new backup`, { details: { lost } });
  }
  if (report.timeline?.status === 'FAILURE') {
    const d = report.timeline.details;
    return new WalshipError('WAL_VERIFY_FAILED', `timeline: the archive holds timeline ${d.highest_storage_timeline_id}, above the cluster's ${d.current_timeline_id}: another cluster promoted into this archive (a split brain, or a clone archiving where it came from)`);
  }
  return undefined;
}
