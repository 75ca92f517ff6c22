import { extensionFor, readableExtensions } from '../codec/index.ts';
import type { CompressionMethod } from '../config/types.ts';
import { WalshipError } from '../errors.ts';
import type { ObjectInfo, StorageDriver } from '../storage/driver.ts';

// WAL-G's layout, so either tool reads the other's archive:
// wal_005/<file name><compression extension>.

export const WAL_PREFIX = 'wal_005/';

/** Object metadata walship records on every WAL object, beside its checksum (content-digest.ts). */
export const SIZE_METADATA = 'walship-size';
/** The database system a segment belongs to, from its header: lets a backup check its end segment without decoding it. */
export const SYSTEM_ID_METADATA = 'walship-system-id';

export function walKey(name: string, compression: CompressionMethod): string {
  return `${WAL_PREFIX}${name}${extensionFor(compression)}`;
}

/**
 * WAL-G <= 3.0.8 names an uncompressed WAL file `<name>.`: the name, a dot,
 * and the empty extension of "none".
 */
const TRAILING_DOT = '.';

/** Keys a WAL file may be stored under: one per compression walship reads, and WAL-G's trailing-dot name. */
export function candidateKeys(name: string): string[] {
  return [...readableExtensions().keys(), TRAILING_DOT].map((extension) => `${WAL_PREFIX}${name}${extension}`);
}

/**
 * The archived object for a WAL file name, whatever compression it was
 * written with, or undefined. One stat per possible key, in parallel: a
 * listing would read a whole wal_005/ directory on a filesystem store,
 * which grows with the archive.
 */
export async function findArchived(store: StorageDriver, name: string, signal?: AbortSignal): Promise<ObjectInfo | undefined> {
  const found = await Promise.all(candidateKeys(name).map((key) => store.stat(key, signal ? { signal } : {})));
  return found.find((info) => info !== undefined);
}

/**
 * Called with the listing that follows where `name` would be, when no known
 * key holds it: an object `wal_005/<name>.<ext>` with an extension walship
 * does not know (a compression of a newer WAL-G, WAL-E's lzo) is the file,
 * archived, that walship cannot read. That must stop recovery, never read
 * as "not in the archive", which would promote the cluster early. Other
 * files that merely start with the name (`<name>.partial.lz4`,
 * `<name>.00000028.backup.lz4`) have more dots.
 */
export function refuseUnreadable(objects: readonly ObjectInfo[], name: string): void {
  const prefix = `${WAL_PREFIX}${name}.`;
  for (const info of objects) {
    if (!info.key.startsWith(prefix) || info.key.slice(prefix.length).includes('.') || info.key.includes('/', prefix.length)) continue;
    throw new WalshipError('CODEC_UNSUPPORTED', `${info.key} holds ${name}, but walship cannot decode its compression (extension ${JSON.stringify(info.key.slice(prefix.length - 1))})`, {
      details: { key: info.key },
    });
  }
}

export function metadataValue(info: ObjectInfo, name: string): string | undefined {
  for (const [k, v] of Object.entries(info.metadata ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}
