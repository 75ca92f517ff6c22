import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isInternalName } from './names.ts';

export interface WalkedFile {
  key: string;
  size: number;
  mtime: Date;
}

/**
 * Yields the files under root whose keys start with prefix and sort after
 * `after`, in the byte order of their keys — the order object stores list in.
 *
 * Sorting each directory's entries by name, with '/' appended to directory
 * names, makes a depth-first walk produce keys in global lexical order: no
 * file name contains '/', so comparing "dir/" with a sibling decides the
 * order of every key inside dir. The same fact lets the walk skip whole
 * directories that lie before the continuation token.
 */
export async function* walkKeys(root: string, prefix: string, after?: string): AsyncGenerator<WalkedFile> {
  const slash = prefix.lastIndexOf('/');
  const startDir = slash < 0 ? '' : prefix.slice(0, slash + 1);
  yield* walkDir(root, startDir, prefix, after);
}

async function* walkDir(root: string, dirKey: string, prefix: string, after: string | undefined): AsyncGenerator<WalkedFile> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(root, dirKey), { withFileTypes: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw err;
  }
  const sorted = entries
    .filter((e) => !isInternalName(e.name) && (e.isFile() || e.isDirectory()))
    .map((e) => ({ entry: e, sortKey: dirKey + e.name + (e.isDirectory() ? '/' : '') }))
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));

  for (const { entry, sortKey } of sorted) {
    if (entry.isDirectory()) {
      // Keys inside this directory all start with sortKey.
      const overlapsPrefix = sortKey.startsWith(prefix) || prefix.startsWith(sortKey);
      const beforeToken = after !== undefined && after > sortKey && !after.startsWith(sortKey);
      if (overlapsPrefix && !beforeToken) yield* walkDir(root, sortKey, prefix, after);
      continue;
    }
    if (!sortKey.startsWith(prefix) || (after !== undefined && sortKey <= after)) continue;
    try {
      const st = await stat(join(root, sortKey));
      yield { key: sortKey, size: st.size, mtime: st.mtime };
    } catch (err) {
      // Deleted between readdir and stat: not listed, as if listed a moment later.
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }
}
