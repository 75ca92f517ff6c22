import type { Dirent } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { WalshipError } from '../errors.ts';
import { PG_CONTROL, isDatabaseDir, isExcluded, unloggedSkips } from './exclusions.ts';
import type { BackupDirectory, BackupTablespace } from './manifest.ts';

// The list of what to copy, made before copying: sizes decide how files are
// spread over parts. Files may still change or vanish afterwards, as they
// do in any online backup; WAL replay makes them consistent.

export interface ScannedFile {
  path: string;
  absPath: string;
  size: number;
  mtime: number;
  mode: number;
}

export interface ScanResult {
  files: ScannedFile[];
  directories: BackupDirectory[];
  tablespaces: BackupTablespace[];
  pgControl: string;
}

export async function scanDataDirectory(pgdata: string): Promise<ScanResult> {
  const result: ScanResult = { files: [], directories: [], tablespaces: [], pgControl: join(pgdata, PG_CONTROL) };
  const st = await stat(pgdata).catch((err: unknown) => {
    throw new WalshipError('IO_FAILED', `cannot read the data directory ${pgdata}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  });
  if (!st.isDirectory()) throw new WalshipError('IO_FAILED', `${pgdata} is not a directory`);
  await walk(pgdata, '', result);
  return result;
}

async function walk(absDir: string, relDir: string, result: ScanResult): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(absDir, { withFileTypes: true });
  } catch (err) {
    // A directory dropped while we walk (DROP DATABASE): as if it never was.
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw err;
  }
  const skipUnlogged = isDatabaseDir(relDir) ? unloggedSkips(entries.map((e) => e.name)) : new Set<string>();
  for (const entry of entries) {
    const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
    const abs = join(absDir, entry.name);
    if (isExcluded(rel) || skipUnlogged.has(entry.name) || rel === PG_CONTROL) continue;
    const info = await lstat(abs).catch(() => undefined);
    if (!info) continue;
    if (info.isSymbolicLink()) {
      if (relDir === 'pg_tblspc') {
        const location = await readlink(abs);
        result.tablespaces.push({ oid: entry.name, location });
        result.directories.push({ path: rel, mode: 0o700 });
        await walk(abs, rel, result);
      }
      // Other links (a pg_wal on another volume) are recreated by the restore, not followed.
      else if (rel === 'pg_wal') result.directories.push({ path: rel, mode: 0o700 });
      continue;
    }
    if (info.isDirectory()) {
      result.directories.push({ path: rel, mode: info.mode & 0o7777 });
      await walk(abs, rel, result);
    } else if (info.isFile()) {
      result.files.push({ path: rel, absPath: abs, size: info.size, mtime: info.mtimeMs, mode: info.mode & 0o7777 });
    }
  }
}
