import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { asWalshipError } from '../errors.ts';
import { parseWalFileName, segmentName } from '../wal/names.ts';
import { pushWalFile, type WalArchive } from '../wal/push.ts';
import type { ClusterPosition } from './cluster-position.ts';
import { missingSequences } from './wal-integrity.ts';
import type { WalVerifyRun } from './wal-verify.ts';

// The WAL gap after a failover: a promoted standby received by streaming
// WAL that the old primary never archived, and marks such segments .done,
// so its own archiver never sends them. Whatever of it is still in the
// local pg_wal is uploaded here (pushWalFile checks each segment's header,
// so a file PostgreSQL recycled under a later name is refused, not stored),
// with the timelines' .history files. What is gone from pg_wal stays a gap.

export interface GapFill {
  filled: string[];
  failed: { name: string; why: string }[];
}

export async function fillGaps(archive: WalArchive, run: WalVerifyRun, position: ClusterPosition, pgdata: string): Promise<GapFill> {
  const result: GapFill = { filled: [], failed: [] };
  const pgWal = join(pgdata, 'pg_wal');
  const push = async (name: string) => {
    const path = join(pgWal, name);
    if ((await stat(path).catch(() => undefined)) === undefined) return;
    try {
      await pushWalFile(archive, path);
      result.filled.push(name);
    } catch (err) {
      result.failed.push({ name, why: `${asWalshipError(err).code}: ${asWalshipError(err).message}` });
    }
  };
  for (const tl of [...run.path.ends.map((e) => e.timeline), run.path.current]) {
    if (tl > 1 && !run.inventory.histories.has(tl)) await push(`${tl.toString(16).toUpperCase().padStart(8, '0')}.history`);
  }
  // A standby's segments are its primary's to archive.
  if (position.inRecovery) return result;
  for (const seq of missingSequences(run.report.integrity ?? { status: 'OK', details: [] })) {
    const start = parseWalFileName(seq.start_segment, position.segmentSize).segNo!;
    for (let i = 0n; i < BigInt(seq.segments_count); i++) await push(segmentName(seq.timeline_id, start + i, position.segmentSize));
  }
  return result;
}
