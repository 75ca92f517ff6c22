import type { Stats } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WalshipError, localIoError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { fsyncDir } from '../util/atomic-file.ts';
import type { WalArchive } from '../wal/push.ts';
import { readManifest, resolveBackup } from './catalog.ts';
import { PG_CONTROL } from './exclusions.ts';
import { fetchParts, unchangedFiles } from './fetch-parts.ts';
import { PartWorkers } from './part-workers.ts';
import type { BackupFile, BackupManifest, BackupSentinel } from './manifest.ts';
import { restoreWalgBackup } from './walg/fetch.ts';
import { validateTarget, writeRecoveryConfig, type RecoveryTarget } from './recovery-conf.ts';

// backup-fetch: a backup back into a directory, in parallel and in bounded
// memory, with pg_control written last so that an interrupted or failed
// restore never leaves a directory PostgreSQL would start. Into a directory
// that already holds a cluster it is a delta restore: only files whose
// checksum differs are rewritten.

export interface BackupFetchOptions {
  dest: string;
  /** A backup name, or LATEST. */
  backup: string;
  /** Force a delta restore; a directory that is not empty gets one anyway. */
  delta: boolean;
  /** Tablespace oid (or name) → new location. */
  tablespaceMapping: ReadonlyMap<string, string>;
  /** Recovery settings to write; undefined: restore files only. */
  recovery?: RecoveryTarget;
  concurrency: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BackupFetchResult {
  backup: BackupSentinel;
  mode: 'full' | 'delta';
  filesWritten: number;
  filesKept: number;
  filesRemoved: number;
  bytesWritten: number;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}


/** Which backup a restore targets: a name, or the newest one that finished before the target time. */
async function chooseBackup(archive: WalArchive, options: BackupFetchOptions): Promise<BackupSentinel> {
  const before = options.recovery?.time !== undefined ? new Date(options.recovery.time) : undefined;
  return resolveBackup(archive.store, options.backup, options.backup === 'LATEST' ? before : undefined, { walgFull: true });
}

async function refuseRunningCluster(dest: string): Promise<void> {
  if (await exists(join(dest, 'postmaster.pid'))) {
    throw new WalshipError(
      'RESTORE_REFUSED',
      `${dest} holds postmaster.pid: a PostgreSQL server may be running on it. Stop it first (if it is stopped and crashed, remove postmaster.pid by hand).`,
    );
  }
}

/** Files and directories under dest (or its subdirectory rel) that the manifest does not hold: removed by a delta restore. Links are not followed. */
async function strayEntries(dest: string, keep: ReadonlySet<string>, rel = ''): Promise<string[]> {
  const stray: string[] = [];
  for (const entry of await readdir(join(dest, rel), { withFileTypes: true }).catch(() => [])) {
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory() && !entry.isSymbolicLink()) {
      if (keep.has(path)) stray.push(...(await strayEntries(dest, keep, path)));
      else stray.push(path);
    } else if (!keep.has(path)) {
      stray.push(path);
    }
  }
  return stray;
}

/** The directory, or its nearest ancestor that exists. */
async function nearestExisting(path: string): Promise<Stats> {
  for (let p = path; ; p = dirname(p)) {
    const st = await stat(p).catch(() => undefined);
    if (st || dirname(p) === p) return st ?? stat(p);
  }
}

/**
 * mkdir -p, and the directory and every parent it had to create given to
 * owner: a parent left to root at 0700 would keep postgres out.
 */
async function mkdirOwned(path: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  const firstCreated = await mkdir(path, { recursive: true, mode: 0o700 });
  if (!owner) return;
  for (let dir = path; ; dir = dirname(dir)) {
    await chown(dir, owner.uid, owner.gid);
    if (firstCreated === undefined || dir === firstCreated || dirname(dir) === dir) return;
  }
}

/** A WAL-G full backup (walg/fetch.ts): into an empty directory only, WAL-G has no checksums for a delta restore to compare. */
async function restoreWalg(
  workers: PartWorkers,
  archive: WalArchive,
  sentinel: BackupSentinel,
  options: BackupFetchOptions,
  log: Logger,
  encryptedByDefault: boolean,
  how: { mode: 'full' | 'delta'; owner: { uid: number; gid: number } | undefined },
): Promise<BackupFetchResult> {
  const dest = options.dest;
  if (how.mode === 'delta') {
    throw new WalshipError(
      'RESTORE_REFUSED',
      `backup ${sentinel.name} was taken by WAL-G, which records no checksums to tell unchanged files by: it is restored into an empty directory only, and ${dest} is not empty${options.delta ? ' (--delta)' : ''}`,
      { details: { backup: sentinel.name } },
    );
  }
  log.info({ backup: sentinel.name, dest, mode: 'full', tool: 'wal-g' }, 'restore started');
  await chmod(dest, 0o700);
  let done = 0;
  const { filesWritten, bytesWritten } = await restoreWalgBackup(
    workers,
    archive,
    sentinel,
    {
      dest,
      owner: how.owner,
      tablespaceMapping: options.tablespaceMapping,
      ...(options.recovery ? { recovery: options.recovery } : {}),
      concurrency: options.concurrency,
      encryptedByDefault,
      onBytes: (n) => {
        done += n;
        // WAL-G records no uncompressed size per file: the total is its sentinel's.
        options.onProgress?.(done, Math.max(done, sentinel.dataBytes));
      },
    },
    log,
  );
  log.info({ backup: sentinel.name, dest, mode: 'full', tool: 'wal-g', filesWritten, bytes: bytesWritten }, 'restore complete');
  return { backup: sentinel, mode: 'full', filesWritten, filesKept: 0, filesRemoved: 0, bytesWritten };
}

export async function backupFetch(archive: WalArchive, options: BackupFetchOptions, log: Logger, encryptedByDefault: boolean): Promise<BackupFetchResult> {
  try {
    return await restore(archive, options, log, encryptedByDefault);
  } catch (err) {
    throw localIoError(err, `restoring into ${options.dest}`);
  }
}

async function restore(archive: WalArchive, options: BackupFetchOptions, log: Logger, encryptedByDefault: boolean): Promise<BackupFetchResult> {
  if (options.recovery) validateTarget(options.recovery);
  // Checksums and parts are worked on by worker threads, which load while the manifest is read.
  const workers = new PartWorkers(options.concurrency).start();
  try {
    return await restoreWith(workers, archive, options, log, encryptedByDefault);
  } finally {
    await workers.close();
  }
}

async function restoreWith(workers: PartWorkers, archive: WalArchive, options: BackupFetchOptions, log: Logger, encryptedByDefault: boolean): Promise<BackupFetchResult> {
  const dest = options.dest;
  // Owner of restored files: whoever owns the destination, or its nearest
  // existing parent when it is new (a root process restoring for the postgres user).
  const ownerOf = await nearestExisting(dest);
  const owner = process.getuid?.() === 0 && ownerOf.uid !== 0 ? { uid: ownerOf.uid, gid: ownerOf.gid } : undefined;
  await mkdirOwned(dest, owner);
  await refuseRunningCluster(dest);
  const existing = await readdir(dest);
  const mode: 'full' | 'delta' = existing.length > 0 || options.delta ? 'delta' : 'full';

  const sentinel = await chooseBackup(archive, options);
  if (sentinel.tool === 'wal-g') return restoreWalg(workers, archive, sentinel, options, log, encryptedByDefault, { mode, owner });
  const manifest: BackupManifest = await readManifest(archive.store, archive.codec, sentinel, encryptedByDefault);
  log.info({ backup: sentinel.name, dest, mode }, 'restore started');

  await chmod(dest, 0o700);

  // First of all: no pg_control, so a restore that stops half-way leaves nothing startable.
  await rm(join(dest, PG_CONTROL), { force: true });

  // Tablespaces: symlinks to their (possibly relocated) locations.
  for (const ts of manifest.tablespaces) {
    const location = options.tablespaceMapping.get(ts.oid) ?? ts.location;
    await mkdirOwned(location, owner);
    const link = join(dest, 'pg_tblspc', ts.oid);
    await mkdir(join(dest, 'pg_tblspc'), { recursive: true, mode: 0o700 });
    const current = await readlink(link).catch(() => undefined);
    if (current !== location) {
      await rm(link, { recursive: true, force: true });
      await symlink(location, link);
    }
  }
  const tablespaceLinks = new Set(manifest.tablespaces.map((t) => `pg_tblspc/${t.oid}`));

  for (const dir of manifest.directories) {
    if (tablespaceLinks.has(dir.path)) continue;
    await mkdir(join(dest, dir.path), { recursive: true, mode: dir.mode & 0o7777 || 0o700 });
    if (owner) await chown(join(dest, dir.path), owner.uid, owner.gid);
  }

  // Delta: remove what the backup does not hold; keep files whose checksum matches.
  let filesRemoved = 0;
  if (mode === 'delta') {
    const keep = new Set<string>([...manifest.directories.map((d) => d.path), ...manifest.files.map((f) => f.path), PG_CONTROL, 'global']);
    const stray = await strayEntries(dest, keep);
    // Inside a tablespace, only below the directories the backup holds
    // (PG_15_<catalog version>): its location may also hold another major
    // version's directory, which is not this cluster's to remove.
    for (const link of tablespaceLinks) {
      for (const entry of await readdir(join(dest, link)).catch(() => [])) {
        if (keep.has(`${link}/${entry}`)) stray.push(...(await strayEntries(dest, keep, `${link}/${entry}`)));
      }
    }
    for (const path of stray) {
      if (tablespaceLinks.has(path)) continue;
      await rm(join(dest, path), { recursive: true, force: true });
      filesRemoved++;
    }
  }

  let toWrite: BackupFile[] = manifest.files;
  let filesKept = 0;
  if (mode === 'delta') ({ kept: filesKept, toWrite } = await unchangedFiles(workers, dest, manifest.files, options.concurrency));
  const bytesWritten = toWrite.reduce((s, f) => s + f.size, 0);
  let done = 0;
  await fetchParts(workers, archive, manifest.parts, toWrite, {
    dest,
    encryptedByDefault,
    concurrency: options.concurrency,
    ...(owner ? { owner } : {}),
    onBytes: (n) => {
      done += n;
      options.onProgress?.(done, bytesWritten);
    },
  });
  // The threads' memory is not needed for what is left.
  await workers.close();

  // Recovery files, then pg_control last.
  const backupLabel = join(dest, 'backup_label');
  await writeFile(backupLabel, manifest.backupLabel, { mode: 0o600, flush: true });
  if (owner) await chown(backupLabel, owner.uid, owner.gid);
  await rm(join(dest, 'tablespace_map'), { force: true });
  for (const stale of ['recovery.signal', 'standby.signal']) await rm(join(dest, stale), { force: true });
  if (options.recovery) {
    await writeRecoveryConfig(dest, options.recovery, sentinel.name);
    if (owner) {
      await chown(join(dest, options.recovery.standby ? 'standby.signal' : 'recovery.signal'), owner.uid, owner.gid);
      await chown(join(dest, 'postgresql.auto.conf'), owner.uid, owner.gid);
    }
  }
  for (const dir of new Set(['', ...manifest.directories.filter((d) => !tablespaceLinks.has(d.path)).map((d) => d.path)])) {
    await fsyncDir(join(dest, dir)).catch(() => undefined);
  }
  const control = join(dest, PG_CONTROL);
  await writeFile(control, Buffer.from(manifest.pgControl, 'base64'), { mode: 0o600, flush: true });
  if (owner) await chown(control, owner.uid, owner.gid);
  await fsyncDir(join(dest, 'global'));

  const result = { backup: sentinel, mode, filesWritten: toWrite.length, filesKept, filesRemoved, bytesWritten };
  log.info({ backup: sentinel.name, dest, mode, filesWritten: result.filesWritten, filesKept, filesRemoved, bytes: result.bytesWritten }, 'restore complete');
  return result;
}

