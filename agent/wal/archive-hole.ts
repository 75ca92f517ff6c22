import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encodingFromMetadata, withoutCompressionExtension } from '../codec/index.ts';
import { WalshipError } from '../errors.ts';
import type { ListPage, ObjectInfo } from '../storage/driver.ts';
import { WAL_PREFIX } from './layout.ts';
import { parseWalFileName, segmentNameForLsn, type WalFileName } from './names.ts';
import type { WalArchive } from './push.ts';
import { parseTimelineHistory, type TimelineSwitch } from './timeline-history.ts';

// PostgreSQL takes a restore_command's "not found" for the end of the
// archive and promotes there: a segment lost from the middle of the archive
// would silently end recovery early, with every later commit missing. So a
// missing segment is looked at in what the archive holds after it, which
// the one listing that also finds it under another compression returns:
//
//  - a later segment of the same timeline: the timeline went on past it, so
//    it is a hole, unless a later timeline's history says this timeline
//    ended at or before it (the later segments are then an abandoned branch,
//    as an old primary writes after a failover);
//  - else a later timeline's history file (the next keys after a timeline's
//    own): a hole if the switch point it records for this timeline lies
//    after the segment, the end of the timeline if not (the segment holding
//    the switch point is archived as .partial, and PostgreSQL reads it from
//    the new timeline).
//
// A normal end of the archive, with nothing after the name, costs nothing
// more. History files, .partial and .backup names are never holes: recovery
// probes for timelines that do not exist as a matter of course.

/** Keys read after a missing name: its other compressions, its .partial and .backup, and then what follows. */
export const FOLLOWING_PAGE = 64;

export interface ArchiveHole {
  /** The WAL file PostgreSQL asked for. */
  missing: string;
  /** The first file present after it that proves the archive goes on. */
  next: string;
  /** When the store received `next`. */
  nextStoredAt: Date;
  /** Why `next` proves it, for the message. */
  reason: string;
}

/** The key just before every key of a WAL file name, for a listing that starts at its own objects. */
export function keyJustBefore(name: string): string {
  const last = name.charCodeAt(name.length - 1);
  // '~' sorts after every character of a WAL key (digits, A-F, '.', a-z).
  return `${WAL_PREFIX}${name.slice(0, -1)}${String.fromCharCode(last - 1)}~`;
}

/** The WAL file an archived object holds, or undefined for any other key. */
export function archivedFile(info: ObjectInfo, segmentSize: number): WalFileName | undefined {
  if (!info.key.startsWith(WAL_PREFIX)) return undefined;
  const rest = info.key.slice(WAL_PREFIX.length);
  try {
    // WAL-G <= 3.0.8 names an uncompressed object `<name>.`.
    const base = withoutCompressionExtension(rest);
    return parseWalFileName(base.endsWith('.') ? base.slice(0, -1) : base, segmentSize);
  } catch {
    return undefined;
  }
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

export async function findHole(archive: WalArchive, file: WalFileName, following: ListPage, segmentSize: number, signal?: AbortSignal): Promise<ArchiveHole | undefined> {
  if (file.kind !== 'segment') return undefined;
  const files = following.objects.flatMap((info) => {
    const f = archivedFile(info, segmentSize);
    return f === undefined ? [] : [{ info, file: f }];
  });
  const later = files.find((x) => x.file.timeline === file.timeline && x.file.kind !== 'history' && x.file.segNo! > file.segNo!);
  let history = files.find((x) => x.file.kind === 'history' && x.file.timeline > file.timeline);
  if (later === undefined && history === undefined) return undefined;
  if (history === undefined) {
    // This timeline's own later keys fill the page: the next timeline's history, if any, is the first key after them.
    const page = await archive.store.listPage(WAL_PREFIX, { startAfter: `${WAL_PREFIX}${hex8(file.timeline)}~`, pageSize: 1, signal });
    const first = page.objects[0];
    const f = first === undefined ? undefined : archivedFile(first, segmentSize);
    if (first !== undefined && f?.kind === 'history') history = { info: first, file: f };
  }
  const ended = history === undefined ? undefined : await switchPoint(archive, history.info, file.timeline, signal);
  // The segment holding the switch point is the first that is not this
  // timeline's in full; the archive recorded the segment size at its first push.
  const endSegment = ended === undefined ? undefined : segmentNameForLsn(file.timeline, ended, (await archive.identity.segmentSize(signal)) ?? segmentSize);
  if (endSegment !== undefined && file.name >= endSegment) return undefined;
  if (later !== undefined) {
    return { missing: file.name, next: later.file.name, nextStoredAt: later.info.lastModified, reason: `${later.file.name} of the same timeline is` };
  }
  if (endSegment === undefined) return undefined;
  return {
    missing: file.name,
    next: history!.file.name,
    nextStoredAt: history!.info.lastModified,
    reason: `${history!.file.name} says timeline ${file.timeline} went on to ${endSegment}, and it is`,
  };
}

/** Where a later timeline's history says `timeline` ended, or undefined when it does not descend from it. */
async function switchPoint(archive: WalArchive, info: ObjectInfo, timeline: number, signal?: AbortSignal): Promise<bigint | undefined> {
  return (await readArchivedHistory(archive, info.key, signal)).find((s) => s.parent === timeline)?.switchLsn;
}

/** An archived TTTTTTTT.history object, decoded and parsed. */
export async function readArchivedHistory(archive: WalArchive, key: string, signal?: AbortSignal): Promise<TimelineSwitch[]> {
  const { body, info: got } = await archive.store.get(key, signal ? { signal } : {});
  const chunks: Buffer[] = [];
  const decoded = archive.codec.decode(body, encodingFromMetadata(got.key, got.metadata, archive.encryptedByDefault));
  await pipeline(decoded, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }), signal ? { signal } : {});
  return parseTimelineHistory(Buffer.concat(chunks).toString('utf8'));
}

export function holeError(hole: ArchiveHole): WalshipError {
  return new WalshipError(
    'WAL_ARCHIVE_HOLE',
    `${hole.missing} is not in the archive, but ${hole.reason}: a hole in the archive, not its end. Recovery stops here rather than promoting with every later commit missing; put ${hole.missing} back into the archive and start again, or set WALSHIP_FETCH_HOLE=end to end recovery at the hole and lose what follows it`,
    { details: { missing: hole.missing, next: hole.next } },
  );
}

/** The line logged when a hole is answered as the end of the archive. */
export function holeWarning(hole: ArchiveHole, why: string): string {
  return `walship: warning: WAL_ARCHIVE_HOLE: ${hole.missing} is not in the archive, but ${hole.reason}: answered "not found" (${why})`;
}
