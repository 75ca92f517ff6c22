import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { Codec } from '../codec/index.ts';
import { encodingFromMetadata, encodingMetadata } from '../codec/index.ts';
import { WalshipError, isWalshipError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { listAll } from '../storage/list.ts';
import { BACKUP_PREFIX, nameFromSentinelKey, sentinelKey, walgMetadataKey } from './layout.ts';
import { parseStoredSentinel, parseWalgMetadata, walgBackup } from './walg/sentinel-read.ts';
import { storedMetadata, storedSentinel } from './walg/sentinel-write.ts';
import { readIdentity } from '../wal/cluster-identity.ts';
import { MANIFEST_FORMAT, type BackupManifest, type BackupSentinel } from './manifest.ts';

// Finding and reading backups. Backups are ordered by their recorded start
// time, never by name: after a timeline reset, names stop sorting in time
// order, and WAL-G's retention deleted the newest backups for it (wal-g#636).

export async function readText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  await pipeline(stream, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new WalshipError('CODEC_CORRUPT', `${what} is not valid JSON`, { cause: err });
  }
}

/** A backup's sentinel, walship's or WAL-G's (marked tool: 'wal-g'); undefined when there is none. */
export async function readSentinel(store: StorageDriver, name: string): Promise<BackupSentinel | undefined> {
  try {
    const { body, info } = await store.get(sentinelKey(name));
    const stored = parseStoredSentinel(await readText(body), sentinelKey(name));
    if (stored.tool === 'wal-g') return walgBackup(name, stored.dto, await readWalgMetadata(store, name), info.lastModified);
    const sentinel = stored.fields as unknown as BackupSentinel;
    if (sentinel.formatVersion !== MANIFEST_FORMAT) {
      throw new WalshipError('CODEC_UNSUPPORTED', `${sentinelKey(name)}: backup format ${sentinel.formatVersion} is not one this walship reads (${MANIFEST_FORMAT})`);
    }
    return sentinel;
  } catch (err) {
    if (isWalshipError(err, 'STORE_NOT_FOUND')) return undefined;
    throw err;
  }
}

async function readWalgMetadata(store: StorageDriver, name: string) {
  try {
    const { body } = await store.get(walgMetadataKey(name));
    return parseWalgMetadata(await readText(body));
  } catch (err) {
    if (isWalshipError(err, 'STORE_NOT_FOUND')) return undefined;
    throw err;
  }
}

/**
 * Writes metadata.json (WAL-G's ExtendedMetadataDto), then the sentinel,
 * last: both carry WAL-G's fields beside walship's, so that WAL-G lists the
 * backup too (see walg/sentinel-write.ts).
 */
export async function writeSentinel(store: StorageDriver, sentinel: BackupSentinel): Promise<void> {
  const put = (key: string, value: unknown, kind: string) => {
    const body = Buffer.from(JSON.stringify(value, null, 2));
    return store.put(key, () => Readable.from([body]), { contentLength: body.length, metadata: { 'walship-kind': kind } });
  };
  await put(walgMetadataKey(sentinel.name), storedMetadata(sentinel), 'backup-metadata');
  await put(sentinelKey(sentinel.name), storedSentinel(sentinel), 'backup-sentinel');
}

export interface BackupCatalogue {
  /** The complete backups of the archive's database system (every one, when the archive records none), oldest first by start time. */
  backups: BackupSentinel[];
  /**
   * Complete backups of other database systems, oldest first: written by a
   * cluster pointed at this prefix by mistake. Listed apart, never LATEST,
   * never counted or deleted by a retention rule.
   */
  foreign: BackupSentinel[];
  /**
   * Complete backups WAL-G took in this prefix, of this database system (or
   * of an unknown one), oldest first: listed as WAL-G's, never LATEST, never
   * deleted by a retention rule, and the WAL from their start is kept.
   */
  walg: BackupSentinel[];
  /** The archive's system identifier, from walship/cluster.json. */
  systemIdentifier?: string;
}

/** The archive's own identifier; an unreadable identity filters nothing (the push commands refuse it loudly). */
async function archiveSystemIdentifier(store: StorageDriver): Promise<string | undefined> {
  try {
    return (await readIdentity(store))?.record.systemIdentifier;
  } catch (err) {
    if (isWalshipError(err, 'CODEC_CORRUPT')) return undefined;
    throw err;
  }
}

/** Every complete backup, this archive's apart from other clusters'. */
export async function readCatalogue(store: StorageDriver): Promise<BackupCatalogue> {
  const [all, systemIdentifier] = await Promise.all([listAllBackups(store), archiveSystemIdentifier(store)]);
  // An old WAL-G sentinel records no system identifier: it is taken for this archive's.
  const ours = (b: BackupSentinel) => systemIdentifier === undefined || b.systemIdentifier === systemIdentifier || (b.tool === 'wal-g' && b.systemIdentifier === '');
  return {
    backups: all.filter((b) => b.tool === undefined && ours(b)),
    walg: all.filter((b) => b.tool === 'wal-g' && ours(b)),
    foreign: all.filter((b) => !ours(b)),
    ...(systemIdentifier === undefined ? {} : { systemIdentifier }),
  };
}

/** This archive's complete walship backups, oldest first by start time (see readCatalogue). */
export async function listBackups(store: StorageDriver): Promise<BackupSentinel[]> {
  return (await readCatalogue(store)).backups;
}

/** A warning line for each foreign backup. */
export function describeForeign(catalogue: BackupCatalogue): string[] {
  return catalogue.foreign.map(
    (b) => `warning: backup ${b.name} (host ${b.hostname}, ${b.startTime}) belongs to database system ${b.systemIdentifier}, not to this archive's ${catalogue.systemIdentifier}: another cluster was pointed at this prefix; it is never LATEST and no retention rule deletes it`,
  );
}

/** Every complete backup whatever its cluster, oldest first by start time. */
async function listAllBackups(store: StorageDriver): Promise<BackupSentinel[]> {
  const names: string[] = [];
  for await (const o of listAll(store, BACKUP_PREFIX)) {
    const name = nameFromSentinelKey(o.key);
    if (name !== undefined) names.push(name);
  }
  const sentinels: BackupSentinel[] = [];
  // Sentinels are small; a few at a time keeps a long listing quick without a burst of requests.
  for (let i = 0; i < names.length; i += 8) {
    const batch = await Promise.all(names.slice(i, i + 8).map((n) => readSentinel(store, n)));
    for (const s of batch) if (s) sentinels.push(s);
  }
  return sentinels.sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime) || a.name.localeCompare(b.name));
}

export async function readManifest(store: StorageDriver, codec: Codec, sentinel: BackupSentinel, encryptedByDefault: boolean): Promise<BackupManifest> {
  const { body, info } = await store.get(sentinel.manifestKey);
  const text = await readText(codec.decode(body, encodingFromMetadata(info.key, info.metadata, encryptedByDefault)));
  return parseJson<BackupManifest>(text, sentinel.manifestKey);
}

export async function writeManifest(store: StorageDriver, codec: Codec, manifest: BackupManifest): Promise<number> {
  const body = Buffer.from(JSON.stringify(manifest));
  let stored = 0;
  await store.put(
    manifest.manifestKey,
    () => {
      const encoded = codec.encode(Readable.from([body]));
      encoded.on('data', (c: Buffer) => (stored += c.length));
      stored = 0;
      return encoded;
    },
    { metadata: encodingMetadata(codec.encoding) },
  );
  return stored;
}

/**
 * Resolves a backup by name, or LATEST: the newest complete backup (that
 * started before `before`, when given). Throws STORE_NOT_FOUND with the
 * names that exist when nothing matches.
 */
export async function resolveBackup(store: StorageDriver, nameOrLatest: string, before?: Date, options: { walgFull?: boolean } = {}): Promise<BackupSentinel> {
  if (nameOrLatest !== 'LATEST') {
    const sentinel = await readSentinel(store, nameOrLatest);
    if (!sentinel) {
      const names = (await listBackups(store)).map((b) => b.name);
      throw new WalshipError('STORE_NOT_FOUND', `no complete backup named ${nameOrLatest} in ${store.location}${names.length ? `; backups: ${names.join(', ')}` : '; there are no backups'}`);
    }
    // A WAL-G full backup is taken where the caller restores it (backup-fetch, walg/fetch.ts); a delta never is.
    if (sentinel.tool === 'wal-g' && (sentinel.delta !== undefined || options.walgFull !== true)) throw walgNotRestorable(store, sentinel);
    const own = await archiveSystemIdentifier(store);
    // WAL-G's sentinels before SystemIdentifier existed name no system: nothing to compare.
    if (own !== undefined && sentinel.systemIdentifier !== '' && sentinel.systemIdentifier !== own) {
      // Its WAL is not in this archive: a restore would stop at "could not locate required checkpoint record".
      throw new WalshipError(
        'BACKUP_FOREIGN_CLUSTER',
        `backup ${nameOrLatest} in ${store.location} belongs to database system ${sentinel.systemIdentifier}, not to this archive's ${own}: it was written by another cluster pointed at this prefix, and this archive does not hold its WAL`,
        { details: { backup: nameOrLatest, systemIdentifier: sentinel.systemIdentifier, archiveSystemIdentifier: own } },
      );
    }
    return sentinel;
  }
  const all = await listBackups(store);
  const eligible = before ? all.filter((b) => Date.parse(b.finishTime) <= before.getTime()) : all;
  const latest = eligible.at(-1);
  if (!latest) {
    throw new WalshipError(
      'STORE_NOT_FOUND',
      before
        ? `no backup in ${store.location} finished before ${before.toISOString()}${all.length ? `; the oldest finished at ${all[0]!.finishTime}` : ''}`
        : `there are no backups in ${store.location}`,
    );
  }
  return latest;
}

/** The backup backup-show shows: as resolveBackup, but a WAL-G backup named is shown (as walship lists it), not refused. */
export async function showBackup(store: StorageDriver, nameOrLatest: string): Promise<BackupSentinel> {
  if (nameOrLatest !== 'LATEST') {
    const sentinel = await readSentinel(store, nameOrLatest);
    if (sentinel?.tool === 'wal-g') return sentinel;
  }
  return resolveBackup(store, nameOrLatest);
}

/** The refusal for a WAL-G backup named where walship would restore it: it says what walship lacks. */
export function walgNotRestorable(store: StorageDriver, sentinel: BackupSentinel): WalshipError {
  const what = sentinel.delta
    ? `a WAL-G delta backup (on ${sentinel.delta.from}, chain from ${sentinel.delta.fullName}): walship cannot apply WAL-G's page deltas`
    : 'a WAL-G backup, which walship lists and restores (backup-fetch <dir> <name>) but holds no file list nor checksums of its own for, to show, verify or mark';
  return new WalshipError('BACKUP_WALG_FORMAT', `backup ${sentinel.name} in ${store.location} is ${what}; use wal-g for that, or take a walship backup (backup-push) and use that`, {
    details: { backup: sentinel.name, delta: sentinel.delta !== undefined },
  });
}
