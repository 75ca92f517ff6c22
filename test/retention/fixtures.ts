import type { BackupSentinel } from '../../agent/backup/manifest.ts';
import { backupName, manifestKey, partKey, sentinelKey } from '../../agent/backup/layout.ts';
import type { RetentionInventory } from '../../agent/backup/retention-inventory.ts';
import type { ObjectInfo } from '../../agent/storage/driver.ts';
import { segmentName } from '../../agent/wal/names.ts';

// Synthetic archives for the pure planning tests: sentinels with chosen
// timelines, start positions and times, and WAL object listings.

export const DAY = 86_400_000;
export const T0 = Date.parse('2025-03-01T00:00:00Z');
export const at = (days: number) => new Date(T0 + days * DAY);

export interface BackupSpec {
  timeline?: number;
  /** Start segment number. */
  pos: number;
  /** Start, in days after T0. */
  start: number;
  /** Finish, in days after T0 (default: an hour after the start). */
  finish?: number;
  permanent?: boolean;
}

export function seg(timeline: number, pos: number): string {
  return segmentName(timeline, BigInt(pos));
}

export function sentinel(spec: BackupSpec): BackupSentinel {
  const tl = spec.timeline ?? 1;
  const startWalFile = seg(tl, spec.pos);
  const name = backupName(startWalFile);
  return {
    formatVersion: 1,
    name,
    startLsn: '0/0',
    stopLsn: '0/0',
    startWalFile,
    stopWalFile: seg(tl, spec.pos + 1),
    timeline: tl,
    systemIdentifier: '7000000000000000001',
    pgVersion: 150000,
    startTime: at(spec.start).toISOString(),
    finishTime: new Date(at(spec.start).getTime() + (spec.finish === undefined ? 3_600_000 : (spec.finish - spec.start) * DAY)).toISOString(),
    hostname: 'test',
    pgdata: '/pgdata',
    fromStandby: false,
    dataBytes: 1000,
    storedBytes: 500,
    fileCount: 10,
    permanent: spec.permanent === true,
    encoding: { compression: 'lz4', encrypted: false },
    manifestKey: manifestKey(name, '.lz4'),
  };
}

const object = (key: string, lastModified: Date): ObjectInfo => ({ key, size: 100, lastModified });

/** The objects a complete backup has: two parts, its manifest and its sentinel. */
export function backupObjects(b: BackupSentinel): ObjectInfo[] {
  const when = new Date(b.finishTime);
  return [object(partKey(b.name, 1, '.lz4'), when), object(partKey(b.name, 2, '.lz4'), when), object(b.manifestKey, when), object(sentinelKey(b.name), when)];
}

/** An unfinished backup's objects (no sentinel), last written at `written`. */
export function unfinishedObjects(name: string, written: Date): ObjectInfo[] {
  return [object(partKey(name, 1, '.lz4'), new Date(written.getTime() - 60_000)), object(partKey(name, 2, '.lz4'), written)];
}

/** WAL objects for segments from..to (inclusive) on a timeline. */
export function walRange(timeline: number, from: number, to: number, ext = '.lz4'): ObjectInfo[] {
  const out: ObjectInfo[] = [];
  for (let p = from; p <= to; p++) out.push(object(`wal_005/${seg(timeline, p)}${ext}`, at(0)));
  return out;
}

export function walKey(name: string, ext = '.lz4'): ObjectInfo {
  return object(`wal_005/${name}${ext}`, at(0));
}

export function inventory(backups: BackupSentinel[], wal: ObjectInfo[], options: { now?: Date; extra?: ObjectInfo[]; identity?: boolean } = {}): RetentionInventory {
  return {
    now: options.now ?? at(30),
    backups: [...backups].sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime)),
    backupObjects: [...backups.flatMap(backupObjects), ...(options.extra ?? [])].sort((a, b) => (a.key < b.key ? -1 : 1)),
    walObjects: wal,
    ...(options.identity ? { identity: object('walship/cluster.json', at(0)) } : {}),
  };
}

/** The segment names (timeline-position) of WAL objects, in the order given. */
export const walNames = (objects: readonly { name: string }[]) => objects.map((o) => o.name);
