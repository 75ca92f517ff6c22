import { basename } from 'node:path';
import type { Codec } from '../codec/index.ts';
import { encodingFromMetadata, encodingMetadata } from '../codec/index.ts';
import { WalshipError, isWalshipError } from '../errors.ts';
import type { ObjectInfo, StorageDriver } from '../storage/driver.ts';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import type { ClusterIdentity } from './cluster-identity.ts';
import { SIZE_METADATA, SYSTEM_ID_METADATA, findArchived, walKey } from './layout.ts';
import { archivedDigest, describeDigest, digestMetadata, digestTap, type ContentDigest } from './content-digest.ts';
import { parseWalFileName } from './names.ts';
import { checkSegment, parseSegmentHeader } from './segment-header.ts';
import { readLocalWal, type LocalWalFile } from './local-file.ts';
import type { PreEncoded } from './segment-follower.ts';

// archive_command's half: PostgreSQL deletes or recycles a segment once this
// returns success, so success must mean "in the store, whole" and nothing less.

export interface WalArchive {
  store: StorageDriver;
  codec: Codec;
  /** Whether objects without encoding metadata (written by WAL-G) are taken as encrypted. */
  encryptedByDefault: boolean;
  identity: ClusterIdentity;
  /** The agent's segment follower: the segment read, hashed and encoded while it was written. */
  preEncoded?: (name: string, path: string) => Promise<PreEncoded | undefined>;
  /**
   * Set when WALG_PREVENT_WAL_OVERWRITE=false: an archived file with other
   * content is replaced (WAL-G's behaviour with that setting), after this
   * is told why. Unset, such a push fails and the archived copy is kept.
   */
  overwrite?: { warn(message: string, details: Record<string, unknown>): void };
}

export type PushOutcome = 'uploaded' | 'already-archived' | 'overwritten';

export interface PushResult {
  outcome: PushOutcome;
  key: string;
  bytes: number;
  digest: ContentDigest;
  /** Hashed and encoded while PostgreSQL was still writing it. */
  preEncoded?: boolean;
}

export interface PushOptions {
  /** Aborts every store call: the push then fails, never reports success. */
  signal?: AbortSignal;
}

export async function pushWalFile(archive: WalArchive, path: string, options: PushOptions = {}): Promise<PushResult> {
  const { signal } = options;
  const file = parseWalFileName(basename(path));
  const early = file.kind === 'segment' && archive.preEncoded !== undefined ? await archive.preEncoded(file.name, path) : undefined;
  const local = early?.file ?? (await readLocalWal(path));
  // The buffer goes back to the pool only once no upload can still be reading
  // it: after a failure, a request the store never answered might.
  let reusable = false;
  try {
    let identity: Promise<void>;
    let systemIdentifier: string | undefined;
    if (file.kind === 'segment' || file.kind === 'partial') {
      const header = parseSegmentHeader(local.head, file.name);
      checkSegment(file, header, local.size);
      systemIdentifier = header.systemIdentifier.toString();
      identity = archive.identity.check(header, file.name, signal);
    } else identity = archive.identity.confirmIfKnown(signal);
    identity.catch(() => undefined);
    const { size } = local;
    // Compressing (in libuv's pool) and looking for an archived copy run at
    // once: each is a few milliseconds PostgreSQL may be waiting for. The
    // metadata needs the checksum before the upload starts, so a segment
    // held in memory is encoded into memory first.
    const encoding = early !== undefined ? Promise.resolve(early.encoded) : local.data === undefined ? undefined : archive.codec.encodeWhole(local.data);
    encoding?.catch(() => undefined);
    // The identity check runs beside them (an agent's is one stat), and must pass before anything is compared or written.
    const [digest, existing] = await Promise.all([local.digest(), findArchived(archive.store, file.name, signal), identity]);
    const key = walKey(file.name, archive.codec.encoding.compression);
    const metadata = {
      ...encodingMetadata(archive.codec.encoding),
      ...digestMetadata(digest),
      [SIZE_METADATA]: String(size),
      ...(systemIdentifier === undefined ? {} : { [SYSTEM_ID_METADATA]: systemIdentifier }),
    };
    const body = async () => {
      const encoded = await encoding;
      return encoded === undefined ? () => archive.codec.encode(local.body()) : () => Readable.from([encoded], { objectMode: false });
    };
    if (existing) {
      const conflict = await compareWithArchived(archive, file.name, existing, local, signal).then(
        (result) => ({ result }),
        (err: unknown) => ({ err }),
      );
      if ('result' in conflict || archive.overwrite === undefined || !isWalshipError(conflict.err, 'WAL_OVERWRITE_CONFLICT')) {
        await encoding?.catch(() => undefined);
        reusable = true;
        if ('result' in conflict) return conflict.result;
        throw conflict.err;
      }
      archive.overwrite.warn(
        `${file.name} is already archived as ${existing.key} with different content, and WALG_PREVENT_WAL_OVERWRITE=false: the archived copy is REPLACED with this server's. If two servers archive here (split-brain), the other's WAL is lost`,
        { ...conflict.err.details },
      );
      await archive.store.put(key, await body(), { metadata, ...(signal ? { signal } : {}) });
      if (existing.key !== key) await archive.store.deleteMany([existing.key], signal ? { signal } : {});
      reusable = true;
      return { outcome: 'overwritten', key, bytes: size, digest };
    }

    const written = await archive.store.putIfAbsent(key, await body(), { metadata, ...(signal ? { signal } : {}) });
    reusable = true;
    if (!written) {
      // Another pusher won the race for this very key: judge its copy like any other.
      const raced = await archive.store.stat(key, signal ? { signal } : {});
      if (!raced) throw new WalshipError('STORE_REQUEST_FAILED', `put-if-absent ${key}: refused as existing, yet not found`);
      return await compareWithArchived(archive, file.name, raced, local, signal);
    }
    return { outcome: 'uploaded', key, bytes: size, digest, ...(early ? { preEncoded: true } : {}) };
  } finally {
    local.done(reusable);
  }
}

async function compareWithArchived(archive: WalArchive, name: string, existing: ObjectInfo, local: LocalWalFile, signal?: AbortSignal): Promise<PushResult> {
  const info = existing.metadata ? existing : ((await archive.store.stat(existing.key, signal ? { signal } : {})) ?? existing);
  const archived = archivedDigest(info) ?? (await digestArchivedContent(archive, info, signal));
  const digest = await local.digest(archived.algorithm);
  if (archived.hex === digest.hex) return { outcome: 'already-archived', key: info.key, bytes: local.size, digest };
  throw new WalshipError(
    'WAL_OVERWRITE_CONFLICT',
    `${name} is already archived as ${info.key} with different content (archived ${describeDigest(archived)}, local ${describeDigest(digest)}): split-brain or corruption suspected; the archived copy is kept and this push fails. Check which server is the primary before doing anything else.`,
    { details: { name, key: info.key, algorithm: digest.algorithm, archivedDigest: archived.hex, localDigest: digest.hex } },
  );
}

/** For objects written without walship's checksum (by WAL-G): read and hash the archived content. */
async function digestArchivedContent(archive: WalArchive, info: ObjectInfo, signal?: AbortSignal): Promise<ContentDigest> {
  const { body, info: got } = await archive.store.get(info.key, signal ? { signal } : {});
  const tap = digestTap();
  const decoded = archive.codec.decode(body, encodingFromMetadata(info.key, got.metadata, archive.encryptedByDefault));
  await pipeline(decoded, tap.stream, new Writable({ write: (_c, _e, cb) => cb() }), signal ? { signal } : {});
  return tap.digest();
}
