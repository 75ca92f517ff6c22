import type { Encoding } from '../codec/index.ts';
import type { BlockRange, DeltaInfo } from './delta/format.ts';

// What a base backup holds. The sentinel (a summary, plain JSON) is what
// backup-list, retention and the choice of backup read; the manifest adds
// every file with its checksum, for restores, verification and deltas.

export const MANIFEST_FORMAT = 1;

export interface BackupFile {
  /** Relative to the data directory, '/'-separated; tablespace files as pg_tblspc/<oid>/... */
  path: string;
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
  mode: number;
  /** sha256 of the bytes stored in the backup. */
  sha256: string;
  /** The part holding it; NO_PART for a file a delta records as unchanged. */
  part: number;
  /** Set in a delta backup for a file stored as changed pages only (delta/format.ts). */
  blocks?: BlockRange[];
}

export interface BackupDirectory {
  path: string;
  mode: number;
}

export interface BackupTablespace {
  oid: string;
  /** Where the tablespace lived on the source host. */
  location: string;
}

export interface BackupPart {
  part: number;
  key: string;
  files: number;
  /** Bytes of file data in the part, before compression. */
  dataBytes: number;
  /** Bytes of the stored object. */
  storedBytes: number;
}

/** The summary written last, as the sentinel. */
export interface BackupSentinel {
  /** MANIFEST_FORMAT for walship's backups; 0 for WAL-G's (see walg/sentinel-read.ts). */
  formatVersion: number;
  /** Set for a backup WAL-G took in the same prefix: listed, kept by retention, its WAL honoured, never restored by walship. */
  tool?: 'wal-g';
  /** A delta backup (walship's or WAL-G's): the backup it applies to, and the full backup its chain starts from (delta/format.ts). */
  delta?: DeltaInfo;
  name: string;
  startLsn: string;
  stopLsn: string;
  startWalFile: string;
  stopWalFile: string;
  timeline: number;
  systemIdentifier: string;
  /** server_version_num, e.g. 150018. */
  pgVersion: number;
  startTime: string;
  finishTime: string;
  hostname: string;
  pgdata: string;
  fromStandby: boolean;
  dataBytes: number;
  storedBytes: number;
  fileCount: number;
  permanent: boolean;
  userData?: unknown;
  encoding: Encoding;
  manifestKey: string;
  /** Blocks whose page checksum failed, when the backup was taken with --verify. */
  corruptBlocks?: { path: string; block: number }[];
  verified?: boolean;
}

export interface BackupManifest extends BackupSentinel {
  parts: BackupPart[];
  files: BackupFile[];
  directories: BackupDirectory[];
  tablespaces: BackupTablespace[];
  backupLabel: string;
  tablespaceMap: string;
  /** global/pg_control, base64: restored last, so a half-restored directory never looks like a cluster. */
  pgControl: string;
}

export function sentinelOf(manifest: BackupManifest): BackupSentinel {
  const { parts: _p, files: _f, directories: _d, tablespaces: _t, backupLabel: _b, tablespaceMap: _m, pgControl: _c, ...sentinel } = manifest;
  return sentinel;
}
