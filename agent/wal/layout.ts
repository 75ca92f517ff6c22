import { extensionFor } from '../codec/index.ts';
import type { CompressionMethod } from '../config/types.ts';
import type { ObjectInfo, StorageDriver } from '../storage/driver.ts';

// WAL-G's layout, so either tool reads the other's archive:
// wal_005/<file name><compression extension>.

export const WAL_PREFIX = 'wal_005/';
const COMPRESSIONS: readonly CompressionMethod[] = ['lz4', 'zstd', 'brotli', 'gzip', 'none'];

/** Object metadata walship records on every WAL object, beside its checksum (content-digest.ts). */
export const SIZE_METADATA = 'walship-size';
/** The database system a segment belongs to, from its header: lets a backup check its end segment without decoding it. */
export const SYSTEM_ID_METADATA = 'walship-system-id';

export function walKey(name: string, compression: CompressionMethod): string {
  return `${WAL_PREFIX}${name}${extensionFor(compression)}`;
}

/** Keys a WAL file may be stored under, one per compression. */
export function candidateKeys(name: string): string[] {
  return COMPRESSIONS.map((c) => walKey(name, c));
}

/**
 * The archived object for a WAL file name, whatever compression it was
 * written with, or undefined. One stat per possible key, in parallel: a
 * listing would read a whole wal_005/ directory on a filesystem store,
 * which grows with the archive.
 */
export async function findArchived(store: StorageDriver, name: string): Promise<ObjectInfo | undefined> {
  const found = await Promise.all(candidateKeys(name).map((key) => store.stat(key)));
  return found.find((info) => info !== undefined);
}

export function metadataValue(info: ObjectInfo, name: string): string | undefined {
  for (const [k, v] of Object.entries(info.metadata ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}
