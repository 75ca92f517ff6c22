// How a delta backup is recorded: the one definition that backup-push,
// backup-fetch, backup-verify, retention and backup-list share.
//
// A delta backup is a backup like any other (parts, manifest, sentinel),
// whose sentinel names the backup it applies to (`delta.from`) and the full
// backup its chain starts from (`delta.fullName`). Its manifest lists every
// file of the cluster at its moment, so a file absent from it is gone after
// the restore. A file is recorded either
//   - whole, as in a full backup (no `blocks`), or
//   - as a delta (`blocks` set): its tar entry holds only the pages listed in
//     `blocks`, concatenated in that order, and `size` is the file's length
//     at the backup; pages not listed come from the backups below in the
//     chain. `sha256` is of the tar entry's bytes (the stored pages), so every
//     byte a restore writes is checked. An unchanged file has `blocks: []`,
//     no tar entry, and `part: NO_PART`.

/** Where a delta's changed blocks were learned. */
export type DeltaSource = 'wal-summary' | 'page-scan';

export interface DeltaInfo {
  /** The backup this one applies to. */
  from: string;
  /** The full backup at the bottom of the chain. */
  fullName: string;
  /** Steps from the full backup: 1 for a delta on a full. */
  count: number;
  /** `from`'s start LSN: pages at or after it are in this backup. */
  fromLsn?: string;
  /** walship's deltas: how the changed pages were found. */
  source?: DeltaSource;
  /** Set when a WAL summary could not be used and the pages were scanned: why. */
  scanReason?: string;
}

/** [first block, number of blocks]: ranges of pages stored, ascending and disjoint. */
export type BlockRange = [first: number, count: number];

/** `part` of a file a delta records as unchanged: it has no tar entry. */
export const NO_PART = -1;
