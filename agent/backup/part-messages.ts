import type { TransferredError } from '../errors.ts';
import type { PackResult } from './part-pack.ts';
import type { UnpackFindings, UnpackOptions } from './part-unpack.ts';
import type { ScannedFile } from './scan.ts';

// What the main thread and a part worker say to each other. Every message
// names its job, so that late messages of a cancelled job are recognised.

/** Output batches a pack job may have sent before the consumer acknowledges one. */
export const PACK_WINDOW = 2;

export interface PackRequest {
  files: ScannedFile[];
  part: number;
  compression: 'lz4' | 'none';
  /** Verify page checksums against this start LSN (backup-push --verify on a cluster with checksums). */
  verifyFromLsn?: bigint;
}

export type ToWorker =
  | { kind: 'pack'; job: number; request: PackRequest }
  /** The consumer took n more batches. */
  | { kind: 'credit'; job: number; n: number }
  | { kind: 'unpack'; job: number; options: UnpackOptions }
  | { kind: 'chunk'; job: number; data: Uint8Array }
  | { kind: 'finish'; job: number }
  | { kind: 'hash'; job: number; path: string }
  | { kind: 'cancel'; job: number };

export type FromWorker =
  | { kind: 'batch'; job: number; data: Uint8Array; dataBytes: number }
  | { kind: 'packed'; job: number; result: PackResult }
  /** A chunk was written out; bytes: file bytes written since the last report. */
  | { kind: 'consumed'; job: number; bytes: number }
  | { kind: 'unpacked'; job: number; bytes: number; findings: UnpackFindings }
  | { kind: 'hashed'; job: number; sha256: string; size: number }
  | { kind: 'failed'; job: number; error: TransferredError };
