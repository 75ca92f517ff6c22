import { Readable } from 'node:stream';
import { WalshipError, isWalshipError } from '../errors.ts';
import type { ObjectInfo, StorageDriver } from '../storage/driver.ts';
import type { SegmentHeader } from './segment-header.ts';

// The archive remembers which cluster it belongs to, from the first segment
// (or backup) ever pushed, so that a second cluster pointed at the same
// prefix by mistake is refused instead of interleaving its WAL with ours.
//
// Its absence is only taken for a new archive when the archive is empty:
// an archive that holds WAL or backups but no identity has lost it (a
// volume not mounted, a bucket emptied or swapped, the object deleted),
// and starting a new history there would hide the old one's holes.

export const IDENTITY_KEY = 'walship/cluster.json';
/** Where walship's WAL and backups live; kept here, not imported, so the backup code may import this file. */
const HISTORY_PREFIXES = ['wal_005/', 'basebackups_005/'] as const;

export interface IdentityRecord {
  systemIdentifier: string;
  pgVersion: number;
  segmentSize: number;
  firstSegment: string;
  recordedAt: string;
}

/** What a cluster says about itself: a segment's header, or a running server's facts. */
export interface ClusterFacts {
  systemIdentifier: string;
  pgVersion: number;
  segmentSize: number;
}

export function factsOfSegment(header: SegmentHeader): ClusterFacts {
  return { systemIdentifier: header.systemIdentifier.toString(), pgVersion: header.pgVersion, segmentSize: header.segmentSize };
}

/** walship/cluster.json, or undefined when the archive has none. */
export async function readIdentity(store: StorageDriver, signal?: AbortSignal): Promise<{ record: IdentityRecord; info: ObjectInfo } | undefined> {
  try {
    const { body, info } = await store.get(IDENTITY_KEY, signal ? { signal } : {});
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    const record = JSON.parse(Buffer.concat(chunks).toString('utf8')) as IdentityRecord;
    if (typeof record.systemIdentifier !== 'string') throw new Error('no systemIdentifier');
    return { record, info };
  } catch (err) {
    if (isWalshipError(err, 'STORE_NOT_FOUND')) return undefined;
    if (err instanceof WalshipError) throw err;
    throw new WalshipError('CODEC_CORRUPT', `${store.location}/${IDENTITY_KEY} is not a walship cluster identity (${(err as Error).message}): restore it from a copy, or remove it and run \`walship st init --force\``, { cause: err });
  }
}

/** A WAL segment (or partial segment) object: what only a cluster's history holds. */
const SEGMENT_OBJECT = /^wal_005\/[0-9A-F]{24}(\.partial)?(\.[a-z0-9]*)?$/;

/**
 * The first WAL segment or backup object in the archive, or undefined for
 * an archive with no history. Timeline history and backup label files do
 * not count: they carry no system identifier, so they are archived without
 * recording one (a promoted clone's first file is its .history), and there
 * are a handful of them at most, so one page finds a segment past them.
 */
export async function firstHistoryObject(store: StorageDriver, signal?: AbortSignal): Promise<string | undefined> {
  const [wal, backups] = await Promise.all(HISTORY_PREFIXES.map((p, i) => store.listPage(p, { pageSize: i === 0 ? 1000 : 1, ...(signal ? { signal } : {}) })));
  return wal!.objects.find((o) => SEGMENT_OBJECT.test(o.key))?.key ?? backups!.objects[0]?.key;
}

/** Writes the identity unless one exists; resolves to the record the archive then holds. */
export async function recordIdentity(store: StorageDriver, facts: ClusterFacts, firstSegment: string, signal?: AbortSignal): Promise<IdentityRecord> {
  const candidate: IdentityRecord = { ...facts, firstSegment, recordedAt: new Date().toISOString() };
  const body = Buffer.from(JSON.stringify(candidate, null, 2));
  // Two first pushes may race: whoever loses reads the winner's record.
  if (await store.putIfAbsent(IDENTITY_KEY, () => Readable.from([body]), { contentLength: body.length, ...(signal ? { signal } : {}) })) return candidate;
  const now = await readIdentity(store, signal);
  if (!now) throw new WalshipError('INTERNAL', `${IDENTITY_KEY} vanished right after it was written`);
  return now.record;
}

export function identityMissingError(store: StorageDriver, evidence: string, seenHere?: IdentityRecord): WalshipError {
  const why = seenHere
    ? `this process archived into it as database system ${seenHere.systemIdentifier}, and ${IDENTITY_KEY} is gone`
    : `it holds ${evidence} but no ${IDENTITY_KEY}`;
  return new WalshipError(
    'ARCHIVE_IDENTITY_MISSING',
    `the archive at ${store.location} has lost its cluster identity: ${why}. Refusing to start a new history there (it would hide what is missing). Check that the right volume or bucket is mounted or configured and restore ${IDENTITY_KEY} if it was deleted; if this archive really is this cluster's (e.g. one written by WAL-G), record its identity with \`walship st init --force\``,
    { details: { location: store.location, evidence, ...(seenHere ? { systemIdentifier: seenHere.systemIdentifier } : {}) } },
  );
}

export function foreignClusterError(store: StorageDriver, what: string, systemIdentifier: string, record: IdentityRecord): WalshipError {
  return new WalshipError(
    'WAL_FOREIGN_CLUSTER',
    `${what} belongs to database system ${systemIdentifier}, but this archive (${store.location}) belongs to system ${record.systemIdentifier} (recorded at ${record.firstSegment}); refusing to mix two clusters in one prefix — give this cluster its own prefix`,
    { details: { what, systemIdentifier, archiveSystemIdentifier: record.systemIdentifier } },
  );
}

/**
 * One per process. Remembers the identity once seen, and afterwards
 * confirms on every check that the archive still holds it (one stat, run
 * beside the push's other requests): an agent that has archived into a
 * store refuses one that suddenly looks empty.
 */
/**
 * The system identifier an archived WAL segment object holds, when another
 * tool wrote it (no walship metadata); undefined for walship's own objects,
 * or when it cannot be read here (encrypted, only the public key).
 */
export type ForeignSegmentReader = (key: string, name: string, signal?: AbortSignal) => Promise<string | undefined>;

export class ClusterIdentity {
  private readonly store: StorageDriver;
  private readonly foreignSegment: ForeignSegmentReader | undefined;
  private known: { record: IdentityRecord; info: ObjectInfo } | undefined;
  private establishing: Promise<IdentityRecord> | undefined;

  constructor(store: StorageDriver, foreignSegment?: ForeignSegmentReader) {
    this.store = store;
    this.foreignSegment = foreignSegment;
  }

  /**
   * An archive WAL-G wrote has WAL but never had walship/cluster.json: it
   * is adopted when its oldest segment, written without walship's metadata,
   * belongs to this very system, so that a WAL-G Secret carries over as it
   * is. walship's own objects always follow a recorded identity: an archive
   * of them without one has lost it, and stays refused.
   */
  private async adoptable(evidence: string, facts: ClusterFacts, signal?: AbortSignal): Promise<boolean> {
    const m = SEGMENT_OBJECT.exec(evidence);
    if (!m || m[1] !== undefined || this.foreignSegment === undefined) return false;
    const name = evidence.slice('wal_005/'.length, 'wal_005/'.length + 24);
    const systemIdentifier = await this.foreignSegment(evidence, name, signal);
    if (systemIdentifier === undefined) return false;
    if (systemIdentifier !== facts.systemIdentifier) {
      throw foreignClusterError(this.store, 'this cluster', facts.systemIdentifier, { systemIdentifier, pgVersion: facts.pgVersion, segmentSize: facts.segmentSize, firstSegment: name, recordedAt: '' });
    }
    return true;
  }

  /** The identity the archive holds, establishing it for an empty archive; refuses an archive that lost it. */
  private async establish(facts: ClusterFacts, firstSegment: string, signal?: AbortSignal): Promise<IdentityRecord> {
    const found = await readIdentity(this.store, signal);
    if (found) {
      this.known = found;
      return found.record;
    }
    const evidence = await firstHistoryObject(this.store, signal);
    if (evidence !== undefined) {
      // Every walship writer records the identity before its first object:
      // a racing first push may have done so since the read above.
      const raced = await readIdentity(this.store, signal);
      if (raced) {
        this.known = raced;
        return raced.record;
      }
      if (!(await this.adoptable(evidence, facts, signal))) throw identityMissingError(this.store, evidence);
    }
    await recordIdentity(this.store, facts, firstSegment, signal);
    this.known = await readIdentity(this.store, signal);
    if (!this.known) throw new WalshipError('INTERNAL', `${IDENTITY_KEY} vanished right after it was written`);
    return this.known.record;
  }

  /** The remembered identity, confirmed still in the store (and re-read if it changed). */
  private async confirm(known: { record: IdentityRecord; info: ObjectInfo }, signal?: AbortSignal): Promise<IdentityRecord> {
    const info = await this.store.stat(IDENTITY_KEY, signal ? { signal } : {});
    if (!info) throw identityMissingError(this.store, IDENTITY_KEY, known.record);
    if (info.size === known.info.size && info.lastModified.getTime() === known.info.lastModified.getTime()) return known.record;
    const now = await readIdentity(this.store, signal);
    if (!now) throw identityMissingError(this.store, IDENTITY_KEY, known.record);
    this.known = now;
    return now.record;
  }

  /**
   * Resolves once the archive is known to be this cluster's: records the
   * identity in an empty archive, refuses another system identifier, and
   * refuses an archive whose identity is missing.
   */
  async expect(facts: ClusterFacts, what: string, firstSegment = what, signal?: AbortSignal): Promise<void> {
    let record: IdentityRecord;
    if (this.known) record = await this.confirm(this.known, signal);
    else {
      // One first look per process, however many uploads start at once.
      // (The first caller's deadline governs that look; a later caller that joins it waits for it.)
      const pending = (this.establishing ??= this.establish(facts, firstSegment, signal));
      try {
        record = await pending;
      } finally {
        if (this.establishing === pending) this.establishing = undefined;
      }
    }
    if (record.systemIdentifier !== facts.systemIdentifier) throw foreignClusterError(this.store, what, facts.systemIdentifier, record);
  }

  /**
   * For files that name no system (timeline history, backup labels): once
   * this process has seen the archive's identity, the archive must still
   * hold it; before that there is nothing to check them against.
   */
  async confirmIfKnown(signal?: AbortSignal): Promise<void> {
    if (this.known) await this.confirm(this.known, signal);
  }

  /** The WAL segment size the archive's first segment had, when the archive recorded one. */
  async segmentSize(signal?: AbortSignal): Promise<number | undefined> {
    return (this.known ?? (await readIdentity(this.store, signal)))?.record.segmentSize;
  }

  /** The database system the archive belongs to, when it recorded one. */
  async systemIdentifier(signal?: AbortSignal): Promise<string | undefined> {
    return (this.known ?? (await readIdentity(this.store, signal)))?.record.systemIdentifier;
  }

  /** A WAL segment's check before it is archived. */
  check(header: SegmentHeader, segmentName: string, signal?: AbortSignal): Promise<void> {
    return this.expect(factsOfSegment(header), segmentName, segmentName, signal);
  }
}
