import type { CheckStatus } from './wal-integrity.ts';

// wal-verify timeline, with WAL-G's JSON fields: the archive's highest
// timeline should be the cluster's. Higher means another cluster promoted
// into this archive (a split brain, or a restored clone archiving where it
// came from); lower, that the cluster's new timeline has not been archived yet.

export interface TimelineResult {
  status: CheckStatus;
  details: { current_timeline_id: number; highest_storage_timeline_id: number };
}

export function checkTimeline(current: number, highestStored: number): TimelineResult {
  const status: CheckStatus = highestStored > current ? 'FAILURE' : highestStored < current ? 'WARNING' : 'OK';
  return { status, details: { current_timeline_id: current, highest_storage_timeline_id: highestStored } };
}
