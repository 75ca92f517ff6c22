import { segmentName } from '../wal/names.ts';
import { hasSegment, type WalInventory } from './wal-inventory.ts';
import { timelineOf, type TimelinePath } from './timeline-path.ts';

// wal-verify integrity, with WAL-G's statuses and JSON fields: every
// segment from the oldest backup's first to the cluster's last finished
// one, each on the timeline that holds it, is looked for in the archive,
// newest first. Missing segments newer than the newest one found are
// MISSING_DELAYED (the archiver is behind); within the upload concurrency
// below it, MISSING_UPLOADING (parallel uploads land out of order); older
// ones are MISSING_LOST, a hole no recovery can cross.

export type SegmentStatus = 'FOUND' | 'MISSING_DELAYED' | 'MISSING_UPLOADING' | 'MISSING_LOST';
export type CheckStatus = 'OK' | 'WARNING' | 'FAILURE';

/** A run of segments on one timeline with one status: WAL-G's IntegrityScanSegmentSequence. */
export interface SegmentSequence {
  timeline_id: number;
  start_segment: string;
  end_segment: string;
  segments_count: number;
  status: SegmentStatus;
}

export interface IntegrityResult {
  status: CheckStatus;
  details: SegmentSequence[];
}

export interface IntegrityScan {
  inventory: WalInventory;
  path: TimelinePath;
  /** The first segment a restore needs: the oldest backup's. */
  firstSegNo: bigint;
  /** The last segment that should be archived by now: the one before the cluster's current. */
  lastSegNo: bigint;
  /** WALG_UPLOAD_CONCURRENCY: how far below the newest stored segment a missing one may still be on its way. */
  uploadingWindow: number;
  segmentSize: number;
}

export function checkIntegrity(scan: IntegrityScan): IntegrityResult {
  const statuses: { segNo: bigint; timeline: number; status: SegmentStatus }[] = [];
  let phase: 'delayed' | 'uploading' | 'lost' = 'delayed';
  let uploadingLeft = scan.uploadingWindow;
  for (let segNo = scan.lastSegNo; segNo >= scan.firstSegNo; segNo--) {
    const timeline = timelineOf(scan.path, segNo);
    const found = hasSegment(scan.inventory, timeline, segNo);
    if (phase === 'uploading' && uploadingLeft-- <= 0) phase = 'lost';
    if (found && phase === 'delayed') phase = 'uploading';
    const status: SegmentStatus = found ? 'FOUND' : phase === 'delayed' ? 'MISSING_DELAYED' : phase === 'uploading' ? 'MISSING_UPLOADING' : 'MISSING_LOST';
    statuses.push({ segNo, timeline, status });
  }
  statuses.reverse();
  const details: SegmentSequence[] = [];
  for (const s of statuses) {
    const last = details.at(-1);
    const name = segmentName(s.timeline, s.segNo, scan.segmentSize);
    if (last !== undefined && last.status === s.status && last.timeline_id === s.timeline) {
      last.end_segment = name;
      last.segments_count++;
    } else {
      details.push({ timeline_id: s.timeline, start_segment: name, end_segment: name, segments_count: 1, status: s.status });
    }
  }
  const status: CheckStatus = details.some((d) => d.status === 'MISSING_LOST') ? 'FAILURE' : details.some((d) => d.status !== 'FOUND') ? 'WARNING' : 'OK';
  return { status, details };
}

/** The missing runs, for the gap filler and the first-missing metric. */
export function missingSequences(result: IntegrityResult): SegmentSequence[] {
  return result.details.filter((d) => d.status !== 'FOUND');
}
