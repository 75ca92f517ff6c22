import { asWalshipError } from '../errors.ts';
import { verifyWalFile } from '../wal/fetch.ts';
import { parseWalFileName, segmentName } from '../wal/names.ts';
import type { WalArchive } from '../wal/push.ts';
import type { BackupSentinel } from '../backup/manifest.ts';
import { isDamage, type VerifyProblem } from './report.ts';

// The WAL a backup cannot do without: every segment from the one holding
// its start to the one holding its stop (and its timeline's history, past
// timeline 1), read and checked exactly as wal-fetch would hand them to
// recovery, but into nothing.

export function walFilesOf(sentinel: BackupSentinel, segmentSize: number): string[] {
  const first = parseWalFileName(sentinel.startWalFile, segmentSize).segNo!;
  const last = parseWalFileName(sentinel.stopWalFile, segmentSize).segNo!;
  const names: string[] = [];
  if (sentinel.timeline > 1) names.push(`${sentinel.timeline.toString(16).toUpperCase().padStart(8, '0')}.history`);
  for (let seg = first; seg <= last; seg++) names.push(segmentName(sentinel.timeline, seg, segmentSize));
  return names;
}

/** Checks one WAL file; a problem if it is missing or damaged. */
export async function checkWalFile(archive: WalArchive, name: string, segmentSize: number): Promise<VerifyProblem | undefined> {
  try {
    // unchecked: which files must exist is known here; no hole search is needed to tell.
    const result = await verifyWalFile(archive, name, { holes: 'unchecked', segmentSize });
    if (result.outcome === 'not-found') return { kind: 'wal-missing', segment: name, message: 'not in the store: the backup cannot reach consistency without it' };
    return undefined;
  } catch (err) {
    const e = asWalshipError(err);
    if (!isDamage(e.code)) throw e;
    return { kind: 'wal-damaged', segment: name, code: e.code, message: e.message };
  }
}
