import { chown, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WalshipError } from '../../errors.ts';

// The one place a filesystem store's root is created: `walship st init`.
// The driver never creates it (see driver.ts), so that a volume not mounted
// or a directory moved away is an error instead of a new, empty archive.

/** Creates root (and missing parents); resolves true if it was created, false if it was already a directory. */
export async function createFsRoot(root: string): Promise<boolean> {
  try {
    if ((await stat(root)).isDirectory()) return false;
    throw new WalshipError('STORE_REJECTED', `st init: ${root} exists and is not a directory`);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  const first = await mkdir(root, { recursive: true, mode: 0o750 });
  // Run as root, the new directories take the owner of the directory they
  // were made in, so that the postgres user's wal-push can write there.
  if (first !== undefined && process.getuid?.() === 0) {
    const parent = await stat(dirname(first));
    if (parent.uid !== 0) for (let dir = root; dir.length >= first.length; dir = dirname(dir)) await chown(dir, parent.uid, parent.gid);
  }
  return true;
}
