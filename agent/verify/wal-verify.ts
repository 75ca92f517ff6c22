import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listBackups } from '../backup/catalog.ts';
import { readArchivedHistory } from '../wal/archive-hole.ts';
import { parseWalFileName } from '../wal/names.ts';
import type { WalArchive } from '../wal/push.ts';
import { parseTimelineHistory, type TimelineSwitch } from '../wal/timeline-history.ts';
import type { ClusterPosition } from './cluster-position.ts';
import { checkIntegrity, type CheckStatus, type IntegrityResult } from './wal-integrity.ts';
import { readWalInventory, type WalInventory } from './wal-inventory.ts';
import { checkTimeline, type TimelineResult } from './wal-timeline.ts';
import { onPath, timelinePath, type TimelinePath } from './timeline-path.ts';

// `walship wal-verify integrity timeline`: WAL-G's checks of the archive
// against the cluster, the same for the CLI and the agent's periodic run.

export type WalVerifyCheck = 'integrity' | 'timeline';

export interface WalVerifyReport {
  integrity?: IntegrityResult;
  timeline?: TimelineResult;
}

/** What a report's checks found, the worst first: FAILURE, then WARNING, then OK. */
export function worstStatus(report: WalVerifyReport): CheckStatus {
  const all = [report.integrity?.status, report.timeline?.status];
  return all.includes('FAILURE') ? 'FAILURE' : all.includes('WARNING') ? 'WARNING' : 'OK';
}

export interface WalVerifyContext {
  archive: WalArchive;
  position: ClusterPosition;
  uploadConcurrency: number;
  /** The data directory: a history file not archived yet is read from its pg_wal. */
  pgdata?: string;
}

export interface WalVerifyRun {
  report: WalVerifyReport;
  inventory: WalInventory;
  path: TimelinePath;
}

export async function runWalVerify(ctx: WalVerifyContext, checks: readonly WalVerifyCheck[], signal?: AbortSignal): Promise<WalVerifyRun> {
  const { archive, position } = ctx;
  const inventory = await readWalInventory(archive, position.segmentSize, signal);
  const path = timelinePath(position.timeline, await historyOf(ctx, inventory, signal), position.segmentSize);
  const report: WalVerifyReport = {};
  if (checks.includes('integrity')) {
    const lastSegNo = position.lsn / BigInt(position.segmentSize) - 1n;
    report.integrity = checkIntegrity({
      inventory,
      path,
      firstSegNo: await firstNeededSegment(ctx, inventory, path),
      lastSegNo,
      uploadingWindow: ctx.uploadConcurrency,
      segmentSize: position.segmentSize,
    });
  }
  if (checks.includes('timeline')) report.timeline = checkTimeline(position.timeline, inventory.highestTimeline);
  return { report, inventory, path };
}

/** The cluster's timeline history: archived, or else still only in the local pg_wal; none on timeline 1. */
async function historyOf(ctx: WalVerifyContext, inventory: WalInventory, signal?: AbortSignal): Promise<TimelineSwitch[]> {
  const tl = ctx.position.timeline;
  if (tl === 1) return [];
  const key = inventory.histories.get(tl);
  if (key !== undefined) return readArchivedHistory(ctx.archive, key, signal);
  if (ctx.pgdata === undefined) return [];
  const name = `${tl.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const text = await readFile(join(ctx.pgdata, 'pg_wal', name), 'utf8').catch(() => undefined);
  return text === undefined ? [] : parseTimelineHistory(text);
}

/**
 * The oldest backup on the cluster's timelines gives the first segment a
 * restore needs; with no backup, the oldest segment archived on them (a
 * restore cannot start earlier anyway).
 */
async function firstNeededSegment(ctx: WalVerifyContext, inventory: WalInventory, path: TimelinePath): Promise<bigint> {
  const starts = (await listBackups(ctx.archive.store))
    .map((b) => parseWalFileName(b.startWalFile, ctx.position.segmentSize))
    .filter((f) => onPath(path, f.timeline))
    .map((f) => f.segNo!);
  if (starts.length > 0) return starts.reduce((a, b) => (b < a ? b : a));
  let oldest: bigint | undefined;
  for (const [tl, segs] of inventory.segments) {
    if (!onPath(path, tl)) continue;
    for (const s of segs) if (oldest === undefined || s < oldest) oldest = s;
  }
  return oldest ?? ctx.position.lsn / BigInt(ctx.position.segmentSize);
}
