import type { ErrorCode } from '../errors.ts';

// What backup-verify found, backup by backup: each problem says what is
// wrong and where (the part's key, the file, the block, the segment), so a
// script or a person goes straight to the damaged object.

export type VerifyProblem =
  /** The manifest could not be read or decoded: nothing else could be checked. */
  | { kind: 'manifest-unreadable'; key: string; code: ErrorCode; message: string }
  /** A part could not be read or decoded; file: the file it was inside of, when known. */
  | { kind: 'part-unreadable'; part: string; file?: string; code: ErrorCode; message: string }
  /** A file decoded whole but its sha256 is not the manifest's. */
  | { kind: 'file-mismatch'; part: string; file: string; message: string }
  /** The manifest puts a file in a part that does not hold it. */
  | { kind: 'file-missing'; part: string; file: string; message: string }
  /** A data page older than the backup's start fails its checksum. */
  | { kind: 'page-checksum'; part: string; file: string; block: number; message: string }
  /** A WAL file the backup needs to become consistent is not in the store. */
  | { kind: 'wal-missing'; segment: string; message: string }
  /** A WAL file is there but does not decode or fails wal-fetch's checks. */
  | { kind: 'wal-damaged'; segment: string; code: ErrorCode; message: string };

export interface BackupVerifyReport {
  backup: string;
  status: 'ok' | 'failure';
  parts: number;
  files: number;
  /** File bytes decoded and hashed. */
  bytes: number;
  /** checked: the cluster has data checksums; off: it has none; unknown: its pg_control is not one walship reads. */
  pageChecksums: 'checked' | 'off' | 'unknown';
  wal: { timeline: number; from: string; to: string; files: number };
  /** Full backups have no chain; delta backups will be checked here. */
  deltaChain: 'not-applicable';
  seconds: number;
  problems: VerifyProblem[];
}

/** WAL missing from the store is its own exit code: the data is sound, the archive is not. */
export function failureCode(reports: readonly BackupVerifyReport[]): ErrorCode | undefined {
  const problems = reports.flatMap((r) => r.problems);
  if (problems.length === 0) return undefined;
  return problems.every((p) => p.kind === 'wal-missing') ? 'BACKUP_WAL_INCOMPLETE' : 'BACKUP_CORRUPT';
}

/** One line per problem, for people. */
export function describeProblem(p: VerifyProblem): string {
  switch (p.kind) {
    case 'manifest-unreadable':
      return `manifest ${p.key}: ${p.message}`;
    case 'part-unreadable':
      return `part ${p.part}${p.file ? ` (in ${p.file})` : ''}: ${p.message}`;
    case 'file-mismatch':
    case 'file-missing':
      return `file ${p.file} in ${p.part}: ${p.message}`;
    case 'page-checksum':
      return `file ${p.file} block ${p.block} in ${p.part}: ${p.message}`;
    case 'wal-missing':
    case 'wal-damaged':
      return `WAL ${p.segment}: ${p.message}`;
  }
}

/**
 * Errors that say the stored data is damaged or absent, which a report
 * records. Any other (the store is down, a key is not configured) stops
 * the verification: it proves nothing about the backup.
 */
export function isDamage(code: ErrorCode): boolean {
  return code === 'STORE_NOT_FOUND' || code === 'STORE_CORRUPT' || code === 'BACKUP_CORRUPT' || code === 'CRYPTO_INTEGRITY' || code.startsWith('CODEC_') || code.startsWith('WAL_');
}
