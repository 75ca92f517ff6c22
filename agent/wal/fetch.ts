import { open } from 'node:fs/promises';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodingFromMetadata } from '../codec/index.ts';
import { WalshipError, isWalshipError } from '../errors.ts';
import type { GetResult, ListPage } from '../storage/driver.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { through } from '../util/streams.ts';
import { FOLLOWING_PAGE, findHole, holeError, keyJustBefore, type ArchiveHole } from './archive-hole.ts';
import { SIZE_METADATA, WAL_PREFIX, candidateKeys, metadataValue, refuseUnreadable, walKey } from './layout.ts';
import { archivedDigest, describeDigest, digestTap, type ContentDigest } from './content-digest.ts';
import { parseWalFileName, type WalFileName } from './names.ts';
import { checkAllPages } from './page-check.ts';
import type { WalArchive } from './push.ts';
import { LONG_HEADER_BYTES, checkSegment, parseSegmentHeader } from './segment-header.ts';

// restore_command's half: a file reaches its destination only after
// decryption, decompression and every check passed, because PostgreSQL
// replays whatever it finds there.

/** What to answer for a segment missing from the middle of the archive (archive-hole.ts). */
export type HolePolicy = 'fail' | 'end';

export interface FetchOptions {
  /** Owner for the written file, when a root process writes into a postgres-owned directory. */
  owner?: { uid: number; gid: number };
  /**
   * 'fail' (the default) throws WAL_ARCHIVE_HOLE; 'end' answers not-found,
   * with the hole; 'unchecked' does not look (prefetching ahead, where the
   * request for the segment will).
   */
  holes?: HolePolicy | 'unchecked';
  /** The cluster's WAL segment size, for timeline switch points when the archive has no record of it (WAL-G's); 16 MiB unless known. */
  segmentSize?: number;
  /** Aborts every store call and the download; nothing is left at dest. */
  signal?: AbortSignal;
  /**
   * Told of each object restored without a checksum to check it against
   * (WAL-G wrote it, or its metadata is gone), once the size and every page
   * header passed: for a warning, since damage inside a record went unseen.
   */
  onNoChecksum?: (name: string, key: string) => void | Promise<void>;
}

/** The log line for onNoChecksum, the same from the CLI and the agent. */
export const NO_CHECKSUM_WARNING = 'restored a WAL object that carries no checksum: its size and every page header were checked, damage inside a record could not be';

export type FetchResult = { outcome: 'not-found'; hole?: ArchiveHole } | { outcome: 'fetched'; key: string; bytes: number };

/**
 * A segment stored after a missing one only moments ago may have overtaken
 * it: the agent uploads several ready segments at once. Such a hole is
 * looked at again once this much time has passed since, before it counts.
 */
const HOLE_SETTLE_MS = 10_000;

/** The object for a WAL file name, or the listing of what follows where it would be. */
async function locate(archive: WalArchive, name: string, signal?: AbortSignal): Promise<GetResult | ListPage> {
  const opts = signal ? { signal } : {};
  try {
    return await archive.store.get(walKey(name, archive.codec.encoding.compression), opts);
  } catch (err) {
    if (!isWalshipError(err, 'STORE_NOT_FOUND')) throw err;
  }
  // One listing from the name onward finds it written with another
  // compression (the setting changed, or WAL-G wrote it) and, when it is
  // not there, what follows it, which tells a hole from the end.
  const following = await archive.store.listPage(WAL_PREFIX, { startAfter: keyJustBefore(name), pageSize: FOLLOWING_PAGE, ...opts });
  const keys = new Set(candidateKeys(name));
  const other = following.objects.find((o) => keys.has(o.key));
  if (!other) {
    refuseUnreadable(following.objects, name);
    return following;
  }
  try {
    return await archive.store.get(other.key, opts);
  } catch (err) {
    if (isWalshipError(err, 'STORE_NOT_FOUND')) return { objects: following.objects.filter((o) => o !== other) };
    throw err;
  }
}

const isListing = (found: GetResult | ListPage): found is ListPage => 'objects' in found;

/** The object, or not-found with the hole the archive has there, if it has one. */
async function lookUp(archive: WalArchive, file: WalFileName, options: FetchOptions): Promise<GetResult | { hole?: ArchiveHole }> {
  const segmentSize = options.segmentSize ?? 16 * 1024 * 1024;
  let found = await locate(archive, file.name, options.signal);
  if (!isListing(found)) return found;
  if (options.holes === 'unchecked') return {};
  let hole = await findHole(archive, file, found, segmentSize, options.signal);
  const young = hole === undefined ? 0 : HOLE_SETTLE_MS - (Date.now() - hole.nextStoredAt.getTime());
  if (hole !== undefined && young > 0) {
    await sleep(Math.min(young, HOLE_SETTLE_MS), undefined, options.signal ? { signal: options.signal } : {});
    found = await locate(archive, file.name, options.signal);
    if (!isListing(found)) return found;
    hole = await findHole(archive, file, found, segmentSize, options.signal);
  }
  return hole === undefined ? {} : { hole };
}

/** The object's plaintext, and the checks to run once all of it has passed (by its byte count). */
interface OpenedWal {
  key: string;
  plaintext: Readable;
  /** Whether the object carried a checksum to compare the plaintext with. */
  checksummed: boolean;
  /**
   * consequence: what the failure means for the caller, ending its message.
   * written: the plaintext as a file, when there is one: without a checksum
   * every page header of it is checked too.
   */
  check(bytes: number, consequence: string, written?: string): Promise<void>;
}

/**
 * Looks a WAL file up and opens its plaintext, with the archived checksum,
 * size and segment header checked at its end: what wal-fetch writes to a
 * file and backup-verify reads into nothing go through the same checks.
 */
async function openWalFile(archive: WalArchive, name: string, options: FetchOptions): Promise<OpenedWal | Extract<FetchResult, { outcome: 'not-found' }>> {
  const file = parseWalFileName(name, options.segmentSize);
  const got = await lookUp(archive, file, options);
  if (!('body' in got)) {
    if (got.hole === undefined) return { outcome: 'not-found' };
    if (options.holes === 'end') return { outcome: 'not-found', hole: got.hole };
    throw holeError(got.hole);
  }
  const { body, info } = got;
  const expected = archivedDigest(info);
  const tap = digestTap(expected?.algorithm);
  const header = headerTap();
  const decoded = archive.codec.decode(body, encodingFromMetadata(info.key, info.metadata, archive.encryptedByDefault));
  return {
    key: info.key,
    plaintext: through(through(decoded, tap.stream), header.stream),
    checksummed: expected !== undefined,
    check: (bytes, consequence, written) => checkRestored(file, info.key, consequence, header.bytes(), bytes, tap.digest(), expected, metadataValue(info, SIZE_METADATA), written),
  };
}

/** Ends the download when the signal aborts, for as long as `work` runs. */
async function abortable<T>(stream: Readable, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  const stop = () => stream.destroy(signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
  signal?.addEventListener('abort', stop, { once: true });
  try {
    if (signal?.aborted) stop();
    return await work();
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}

export async function fetchWalFile(archive: WalArchive, name: string, dest: string, options: FetchOptions = {}): Promise<FetchResult> {
  const opened = await openWalFile(archive, name, options);
  if ('outcome' in opened) return opened;
  // The deadline's abort ends the download, so the temporary file is removed before the caller answers.
  const bytes = await abortable(opened.plaintext, options.signal, () =>
    // Not fsynced, as pgBackRest's archive-get: after a crash PostgreSQL asks for the file again.
    writeFileAtomic(dest, opened.plaintext, {
      mode: 0o600,
      durable: false,
      ...(options.owner ? { owner: options.owner } : {}),
      verify: (tmp, written) => opened.check(written, 'not written to its destination', tmp),
    }),
  );
  if (!opened.checksummed) await options.onNoChecksum?.(name, opened.key);
  return { outcome: 'fetched', key: opened.key, bytes };
}

/**
 * wal-fetch without a destination: the file is read, decoded and checked as
 * wal-fetch would, and dropped. With no file to read back, a checksum-less
 * object has its size and first page header checked, not every page.
 */
export async function verifyWalFile(archive: WalArchive, name: string, options: FetchOptions = {}): Promise<FetchResult> {
  const opened = await openWalFile(archive, name, options);
  if ('outcome' in opened) return opened;
  let bytes = 0;
  await abortable(opened.plaintext, options.signal, () =>
    pipeline(opened.plaintext, new Writable({ write: (chunk: Buffer, _enc, cb) => ((bytes += chunk.length), cb()) })),
  );
  await opened.check(bytes, 'the archived file is damaged');
  return { outcome: 'fetched', key: opened.key, bytes };
}

/** A pass-through that keeps the first page header's bytes. */
function headerTap(): { stream: Transform; bytes(): Buffer } {
  const kept: Buffer[] = [];
  let have = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (have < LONG_HEADER_BYTES) {
        const part = chunk.subarray(0, LONG_HEADER_BYTES - have);
        kept.push(Buffer.from(part));
        have += part.length;
      }
      cb(null, chunk);
    },
  });
  return { stream, bytes: () => Buffer.concat(kept) };
}

async function checkRestored(file: WalFileName, key: string, consequence: string, header: Buffer, bytes: number, digest: ContentDigest, expected?: ContentDigest, expectedSize?: string, written?: string): Promise<void> {
  const fail = (why: string) => new WalshipError('WAL_INTEGRITY', `${key}: ${why}; ${consequence}`, { details: { key } });
  if (expectedSize !== undefined && String(bytes) !== expectedSize) throw fail(`restored ${bytes} bytes, archived ${expectedSize}`);
  if (expected !== undefined && expected.hex !== digest.hex) throw fail(`${describeDigest(digest)} differs from the archived ${describeDigest(expected)}`);
  if (file.kind === 'segment' || file.kind === 'partial') {
    try {
      const first = parseSegmentHeader(header, file.name);
      checkSegment(file, first, bytes);
      // A .partial segment ends where its timeline did: past that, a recycled file's old pages.
      if (expected === undefined && file.kind === 'segment' && written !== undefined) {
        const handle = await open(written, 'r');
        try {
          await checkAllPages(handle, file, first, bytes);
        } finally {
          await handle.close();
        }
      }
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
}
