import type { ObjectInfo } from '../storage/driver.ts';
import { listAll } from '../storage/list.ts';
import { archivedFile } from '../wal/archive-hole.ts';
import { WAL_PREFIX } from '../wal/layout.ts';
import type { WalArchive } from '../wal/push.ts';

// What the archive's wal_005/ holds, by timeline: one listing, kept as
// segment numbers (a year of 16 MiB segments at one a minute is half a
// million numbers: a few MB).

export interface WalInventory {
  /** Whole segments by timeline (not .partial, not .backup). */
  segments: Map<number, Set<bigint>>;
  /** Timelines whose TTTTTTTT.history is stored, with its key. */
  histories: Map<number, string>;
  /** The highest timeline of any WAL file stored; 0 for an empty archive. */
  highestTimeline: number;
}

export async function readWalInventory(archive: WalArchive, segmentSize: number, signal?: AbortSignal): Promise<WalInventory> {
  const inventory: WalInventory = { segments: new Map(), histories: new Map(), highestTimeline: 0 };
  for await (const info of listAll(archive.store, WAL_PREFIX, signal ? { signal } : {})) addObject(inventory, info, segmentSize);
  return inventory;
}

function addObject(inventory: WalInventory, info: ObjectInfo, segmentSize: number): void {
  const file = archivedFile(info, segmentSize);
  if (file === undefined) return;
  inventory.highestTimeline = Math.max(inventory.highestTimeline, file.timeline);
  if (file.kind === 'history') inventory.histories.set(file.timeline, info.key);
  if (file.kind !== 'segment') return;
  let set = inventory.segments.get(file.timeline);
  if (set === undefined) inventory.segments.set(file.timeline, (set = new Set()));
  set.add(file.segNo!);
}

export function hasSegment(inventory: WalInventory, timeline: number, segNo: bigint): boolean {
  return inventory.segments.get(timeline)?.has(segNo) === true;
}
