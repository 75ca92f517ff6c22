import { readManifest, listBackups, resolveBackup } from '../backup/catalog.ts';
import { filesByPart, unpackPart } from '../backup/fetch-parts.ts';
import type { BackupManifest, BackupSentinel } from '../backup/manifest.ts';
import type { UnpackFindings } from '../backup/part-unpack.ts';
import { PartWorkers } from '../backup/part-workers.ts';
import { asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseControlFile } from '../pg/control-file.ts';
import { runLimited } from '../util/limit.ts';
import { parseLsn } from '../wal/names.ts';
import type { WalArchive } from '../wal/push.ts';
import { isDamage, type BackupVerifyReport, type VerifyProblem } from './report.ts';
import { checkWalFile, walFilesOf } from './wal-range.ts';

// backup-verify: a backup read back from the store without restoring it.
// Its parts go through backup-fetch's own path (store, decryption, the part
// workers' lz4 and tar decoding) into a sink that hashes and page-checks
// instead of writing; its WAL goes through wal-fetch's own checks into
// nothing. Memory is what a restore uses: a few chunks per part in flight.

export interface BackupVerifyOptions {
  /** A backup name, LATEST, or every backup. */
  backup: string | 'ALL';
  concurrency: number;
  encryptedByDefault: boolean;
  onProgress?: (done: number, total: number) => void;
}

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

export async function backupVerify(archive: WalArchive, options: BackupVerifyOptions, log: Logger): Promise<BackupVerifyReport[]> {
  const sentinels = options.backup === 'ALL' ? await listBackups(archive.store) : [await resolveBackup(archive.store, options.backup)];
  const workers = new PartWorkers(options.concurrency).start();
  try {
    const reports: BackupVerifyReport[] = [];
    for (const sentinel of sentinels) reports.push(await verifyOne(workers, archive, sentinel, options, log));
    return reports;
  } finally {
    await workers.close();
  }
}

/** Delta backups will name their parent; checking that the chain down to a full backup is complete goes here. */
function deltaChainProblems(_manifest: BackupManifest): VerifyProblem[] {
  return [];
}

function findingProblems(part: string, found: UnpackFindings): VerifyProblem[] {
  return [
    ...found.mismatched.map((m): VerifyProblem => ({ kind: 'file-mismatch', part, file: m.path, message: `sha256 ${m.sha256.slice(0, 16)}… is not the manifest's ${m.expected.slice(0, 16)}…` })),
    ...found.missing.map((file): VerifyProblem => ({ kind: 'file-missing', part, file, message: 'the manifest puts it in this part, which does not hold it' })),
    ...found.corruptBlocks.map((b): VerifyProblem => ({ kind: 'page-checksum', part, file: b.path, block: b.block, message: 'the page fails its checksum' })),
  ];
}

async function verifyOne(workers: PartWorkers, archive: WalArchive, sentinel: BackupSentinel, options: BackupVerifyOptions, log: Logger): Promise<BackupVerifyReport> {
  const started = Date.now();
  const report: BackupVerifyReport = {
    backup: sentinel.name,
    status: 'ok',
    parts: 0,
    files: 0,
    bytes: 0,
    pageChecksums: 'unknown',
    wal: { timeline: sentinel.timeline, from: sentinel.startWalFile, to: sentinel.stopWalFile, files: 0 },
    deltaChain: 'not-applicable',
    seconds: 0,
    problems: [],
  };
  const finish = () => {
    report.status = report.problems.length === 0 ? 'ok' : 'failure';
    // Parts and segments finish in any order; the report reads the same every time.
    report.problems.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    report.seconds = (Date.now() - started) / 1000;
    log.info({ backup: sentinel.name, status: report.status, problems: report.problems.length, bytes: report.bytes }, 'backup verified');
    return report;
  };

  let manifest: BackupManifest;
  try {
    manifest = await readManifest(archive.store, archive.codec, sentinel, options.encryptedByDefault);
  } catch (err) {
    const e = asWalshipError(err);
    if (!isDamage(e.code)) throw e;
    report.problems.push({ kind: 'manifest-unreadable', key: sentinel.manifestKey, code: e.code, message: e.message });
    return finish();
  }
  const control = parseControlFile(Buffer.from(manifest.pgControl, 'base64'));
  report.pageChecksums = control === undefined ? 'unknown' : control.dataChecksums ? 'checked' : 'off';
  const segmentSize = control?.walSegmentSize ?? DEFAULT_SEGMENT_SIZE;
  const pagesBefore = report.pageChecksums === 'checked' ? parseLsn(manifest.startLsn) : undefined;

  const byPart = filesByPart(manifest.files);
  const total = manifest.dataBytes;
  let done = 0;
  const onBytes = (n: number) => {
    done += n;
    options.onProgress?.(done, total);
  };
  const walFiles = walFilesOf(sentinel, segmentSize);
  report.wal.files = walFiles.length;

  // The WAL is small beside the data: checked alongside, in the same limit of concurrent downloads.
  const tasks: (() => Promise<void>)[] = [
    ...manifest.parts.map((part) => async () => {
      const wanted = byPart.get(part.part) ?? [];
      try {
        const found = await workers.use((worker) => unpackPart(worker, archive, part, wanted, pagesBefore === undefined ? {} : { pagesBefore }, options.encryptedByDefault, onBytes), part.dataBytes);
        report.problems.push(...findingProblems(part.key, found));
      } catch (err) {
        const e = asWalshipError(err);
        if (!isDamage(e.code)) throw e;
        const file = typeof e.details.path === 'string' ? e.details.path : undefined;
        report.problems.push({ kind: 'part-unreadable', part: part.key, ...(file === undefined ? {} : { file }), code: e.code, message: e.message });
        if (e.details.findings !== undefined) report.problems.push(...findingProblems(part.key, e.details.findings as UnpackFindings));
      }
      report.parts++;
      report.files += wanted.length;
    }),
    ...walFiles.map((name) => async () => {
      const problem = await checkWalFile(archive, name, segmentSize);
      if (problem) report.problems.push(problem);
    }),
  ];
  await runLimited(tasks, options.concurrency);
  report.bytes = done;
  report.problems.push(...deltaChainProblems(manifest));
  return finish();
}
