import { COMPRESSION_EXTENSIONS, withoutCompressionExtension } from '../../codec/index.ts';
import { WalshipError } from '../../errors.ts';
import type { GetResult, StorageDriver } from '../../storage/driver.ts';
import { listAll } from '../../storage/list.ts';

// `st put FILE KEY` stores KEY plus the compression's extension (WAL-G's
// convention), and the user then asks `st get KEY` with the key they gave.
// So a key that is not there is looked for under its other spellings: with
// each compression extension, or with none.

/** Keys in the store that name the same object as key under another extension (or none), sorted. */
export async function otherSpellings(driver: StorageDriver, key: string): Promise<string[]> {
  const base = withoutCompressionExtension(key);
  const candidates = new Set([base, ...COMPRESSION_EXTENSIONS.map((e) => base + e)]);
  candidates.delete(key);
  const found: string[] = [];
  for await (const o of listAll(driver, base)) if (candidates.has(o.key)) found.push(o.key);
  return found.sort();
}

export interface Found extends GetResult {
  /** The key the object is stored under: the one asked for, or the one extension it gained. */
  key: string;
}

/**
 * Opens key, or the one object `st put` stored for it under an added
 * extension. A key that names an extension is taken as meant: if it is not
 * there but another spelling is, the error says which.
 */
export async function getAsPut(driver: StorageDriver, key: string): Promise<Found> {
  try {
    return { key, ...(await driver.get(key)) };
  } catch (err) {
    if (!(err instanceof WalshipError && err.code === 'STORE_NOT_FOUND')) throw err;
    const others = await otherSpellings(driver, key);
    if (others.length === 0) throw err;
    const named = withoutCompressionExtension(key) !== key;
    if (others.length === 1 && !named) return { key: others[0]!, ...(await driver.get(others[0]!)) };
    if (others.length === 1) {
      throw new WalshipError('STORE_NOT_FOUND', `st get: ${key} is not in ${driver.location}, but ${others[0]} is: ask for that key`);
    }
    throw new WalshipError('USAGE', `st get: ${key} is not in ${driver.location}, but ${others.length} keys with other extensions are: ${others.join(', ')}; ask for one of them`);
  }
}
