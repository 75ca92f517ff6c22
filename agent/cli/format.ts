import type { BackupSentinel } from '../backup/manifest.ts';
import { formatBytes } from '../util/bytes.ts';

export { formatBytes };

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
}

export function formatBackupTable(backups: readonly BackupSentinel[], detail: boolean): string[] {
  const header = ['name', 'finished', 'start WAL', 'data', 'stored', 'duration', 'pg', 'permanent', 'tool'];
  if (detail) header.push('start LSN', 'stop LSN', 'timeline', 'host', 'standby');
  const rows = backups.map((b) => {
    const cells = [
      b.name,
      b.finishTime.replace(/\.\d+Z$/, 'Z'),
      b.startWalFile,
      formatBytes(b.dataBytes),
      formatBytes(b.storedBytes),
      `${((Date.parse(b.finishTime) - Date.parse(b.startTime)) / 1000).toFixed(1)} s`,
      String(Math.floor(b.pgVersion / 10000)),
      b.permanent ? 'yes' : 'no',
      // WAL-G's backups sit in the same prefix: listed, never restored by walship (delta marks WAL-G's incremental ones).
      b.tool === 'wal-g' ? (b.delta ? 'wal-g delta' : 'wal-g') : 'walship',
    ];
    if (detail) cells.push(b.startLsn, b.stopLsn, String(b.timeline), b.hostname, b.fromStandby ? 'yes' : 'no');
    return cells;
  });
  if (rows.length === 0) return ['no backups'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [row(header, widths), ...rows.map((r) => row(r, widths))];
}
