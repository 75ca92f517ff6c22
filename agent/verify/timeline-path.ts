import type { TimelineSwitch } from '../wal/timeline-history.ts';

// Which timeline holds each segment on the way to the cluster's timeline:
// an ancestor up to the segment before its switch point, then the next. The
// segment holding a switch point is the child's (the parent's copy of it is
// archived as .partial), as PostgreSQL reads it after the switch.

export interface TimelinePath {
  current: number;
  /** The ancestors, oldest first, each with the first segment that is no longer its own. */
  ends: { timeline: number; endSegNo: bigint }[];
}

export function timelinePath(current: number, history: readonly TimelineSwitch[], segmentSize: number): TimelinePath {
  const ends = history.map((s) => ({ timeline: s.parent, endSegNo: s.switchLsn / BigInt(segmentSize) })).sort((a, b) => a.timeline - b.timeline);
  return { current, ends };
}

export function timelineOf(path: TimelinePath, segNo: bigint): number {
  for (const e of path.ends) if (segNo < e.endSegNo) return e.timeline;
  return path.current;
}

/** Whether a timeline is the cluster's or one of its ancestors. */
export function onPath(path: TimelinePath, timeline: number): boolean {
  return timeline === path.current || path.ends.some((e) => e.timeline === timeline);
}
