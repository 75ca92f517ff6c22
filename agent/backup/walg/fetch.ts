import { lstat, mkdir, readFile, rm, symlink, writeFile, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { WalshipError, isWalshipError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { listAll } from '../../storage/list.ts';
import type { StorageDriver } from '../../storage/driver.ts';
import { fsyncDir } from '../../util/atomic-file.ts';
import { runLimited } from '../../util/limit.ts';
import type { WalArchive } from '../../wal/push.ts';
import { readText } from '../catalog.ts';
import { unpackPart, type PartSink } from '../fetch-parts.ts';
import { backupDir, sentinelKey } from '../layout.ts';
import type { BackupPart, BackupSentinel } from '../manifest.ts';
import type { PartWorkers } from '../part-workers.ts';
import { writeRecoveryConfig, type RecoveryTarget } from '../recovery-conf.ts';
import { parseStoredSentinel } from './sentinel-read.ts';

// Restores a WAL-G full backup, following what wal-g/wal-g's
// internal/databases/postgres/backup_fetch_handler.go and extract (via
// internal/extract.go, ExtractAll) do with the objects that
// tar_ball_file_packer.go, bundle.go and backup_push_handler.go wrote:
//   - basebackups_005/<name>/tar_partitions/part_NNN.tar.<ext>: the data
//     directory, entries named from its root with a leading '/', directories
//     and files; tablespace files as /pg_tblspc/<oid>/...; extracted in
//     parallel, on walship's part workers;
//   - backup_label.tar.<ext>: backup_label and tablespace_map, once the
//     parts are in (bundle.go, uploadLabelFiles);
//   - pg_control.tar.<ext>: global/pg_control, last of all (WAL-G extracts
//     it after everything else, so that an interrupted restore never starts);
//   - the sentinel's Spec (TablespaceSpec, tablespace_spec.go): each
//     tablespace's location ("loc") and link ("link", pg_tblspc/<oid>),
//     made before the parts so that their files go through the links.
// WAL-G stores no checksum per file. What is checked: the tar structure
// (header checksums, lengths), lz4's frame checksums, and that every part
// holds the files files_metadata.json (TarFileSets) puts there.

export interface WalgRestoreOptions {
  dest: string;
  owner: { uid: number; gid: number } | undefined;
  tablespaceMapping: ReadonlyMap<string, string>;
  recovery?: RecoveryTarget;
  concurrency: number;
  encryptedByDefault: boolean;
  onBytes: (n: number) => void;
}

export interface WalgRestoreResult {
  filesWritten: number;
  bytesWritten: number;
}

/** WAL-G's TablespaceSpec as MarshalJSON writes it: base_prefix, tablespaces (names), and per name {loc, link}. */
interface WalgTablespace {
  oid: string;
  location: string;
  link: string;
}

const PART = /\/tar_partitions\/part_(\d+)\.tar(?:\.[a-z0-9]+|\.)?$/;
const LABEL = /\/tar_partitions\/backup_label\.tar(?:\.[a-z0-9]+|\.)?$/;
const CONTROL = /\/tar_partitions\/pg_control\.tar(?:\.[a-z0-9]+|\.)?$/;

/** The tablespaces of a sentinel's Spec; a Spec that is not WAL-G's shape is refused, naming the key. */
export function walgTablespaces(spec: unknown, what: string): WalgTablespace[] {
  if (spec === undefined || spec === null) return [];
  const bad = (why: string) => new WalshipError('BACKUP_CORRUPT', `${what}: Spec (WAL-G's tablespace spec) ${why}`);
  if (typeof spec !== 'object' || Array.isArray(spec)) throw bad('is not an object');
  const fields = spec as Record<string, unknown>;
  const names = fields['tablespaces'] ?? [];
  if (!Array.isArray(names)) throw bad('has no list of tablespaces');
  return names.map((name) => {
    const entry = fields[String(name)] as Record<string, unknown> | undefined;
    const location = entry?.['loc'];
    const link = entry?.['link'];
    if (typeof location !== 'string' || typeof link !== 'string') throw bad(`lacks loc and link for tablespace ${String(name)}`);
    const oid = /^pg_tblspc\/(\d+)$/.exec(link.replace(/^\/+/, ''))?.[1];
    if (oid === undefined) throw bad(`links tablespace ${String(name)} at ${JSON.stringify(link)}, not pg_tblspc/<oid>`);
    return { oid, location, link: `pg_tblspc/${oid}` };
  });
}

/** files_metadata.json's TarFileSets (or the old sentinel's), paths without WAL-G's leading '/'; undefined when WAL-G wrote none. */
async function tarFileSets(store: StorageDriver, name: string): Promise<Map<string, string[]> | undefined> {
  let text: string;
  try {
    text = await readText((await store.get(`${backupDir(name)}files_metadata.json`)).body);
  } catch (err) {
    if (isWalshipError(err, 'STORE_NOT_FOUND')) return undefined;
    throw err;
  }
  let parsed: { TarFileSets?: Record<string, unknown> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (err) {
    throw new WalshipError('BACKUP_CORRUPT', `${backupDir(name)}files_metadata.json is not valid JSON`, { cause: err });
  }
  if (parsed.TarFileSets === undefined || parsed.TarFileSets === null) return undefined;
  const sets = new Map<string, string[]>();
  for (const [tar, files] of Object.entries(parsed.TarFileSets)) {
    if (!Array.isArray(files)) throw new WalshipError('BACKUP_CORRUPT', `${backupDir(name)}files_metadata.json: TarFileSets[${tar}] is not a list`);
    sets.set(tar, files.map((f) => String(f).replace(/^\/+/, '')));
  }
  return sets;
}

/** The parts of a WAL-G backup in the store: data parts in order, and the label and control tars. */
async function walgParts(store: StorageDriver, name: string): Promise<{ data: BackupPart[]; label?: string; control: string }> {
  const data: BackupPart[] = [];
  let label: string | undefined;
  let control: string | undefined;
  for await (const o of listAll(store, `${backupDir(name)}tar_partitions/`)) {
    const part = PART.exec(o.key);
    if (part) data.push({ part: Number(part[1]), key: o.key, files: 0, dataBytes: 0, storedBytes: o.size ?? 0 });
    else if (LABEL.test(o.key)) label = o.key;
    else if (CONTROL.test(o.key)) control = o.key;
  }
  if (data.length === 0) throw new WalshipError('BACKUP_CORRUPT', `WAL-G backup ${name} in ${store.location} has no tar_partitions/part_NNN.tar objects: it is incomplete or damaged`, { details: { backup: name } });
  if (control === undefined) throw new WalshipError('BACKUP_CORRUPT', `WAL-G backup ${name} in ${store.location} has no tar_partitions/pg_control.tar object: it is incomplete, and a restore without pg_control cannot start`, { details: { backup: name } });
  data.sort((a, b) => a.part - b.part);
  return { data, ...(label ? { label } : {}), control };
}

const tarName = (key: string) => key.slice(key.lastIndexOf('/') + 1);

/** The restore, into an empty directory that the caller has prepared (owner, mode, no pg_control). */
export async function restoreWalgBackup(workers: PartWorkers, archive: WalArchive, sentinel: BackupSentinel, options: WalgRestoreOptions, log: Logger): Promise<WalgRestoreResult> {
  const store = archive.store;
  const name = sentinel.name;
  const stored = parseStoredSentinel(await readText((await store.get(sentinelKey(name))).body), sentinelKey(name));
  if (stored.tool !== 'wal-g') throw new WalshipError('INTERNAL', `${sentinelKey(name)} is not WAL-G's`);
  const tablespaces = walgTablespaces(stored.dto.Spec, sentinelKey(name));
  const sets = await tarFileSets(store, name);
  const { data, label, control } = await walgParts(store, name);

  const dest = options.dest;
  const chownOwned = async (path: string) => {
    if (options.owner) await chown(path, options.owner.uid, options.owner.gid);
  };
  // Tablespace links first: the parts' pg_tblspc/<oid>/... files are written through them.
  if (tablespaces.length > 0) {
    await mkdir(join(dest, 'pg_tblspc'), { recursive: true, mode: 0o700 });
    await chownOwned(join(dest, 'pg_tblspc'));
  }
  const locations = new Map<string, string>();
  for (const ts of tablespaces) {
    const location = options.tablespaceMapping.get(ts.oid) ?? ts.location;
    locations.set(ts.oid, location);
    await mkdir(location, { recursive: true, mode: 0o700 });
    await chownOwned(location);
    await symlink(location, join(dest, ts.link));
  }

  let filesWritten = 0;
  let bytesWritten = 0;
  const extract = async (part: BackupPart) => {
    const expected = sets?.get(tarName(part.key));
    const sink: PartSink = { dest, ...(options.owner ? { owner: options.owner } : {}), unlisted: { expected: expected ?? [] } };
    const findings = await workers.use(
      (worker) =>
        unpackPart(worker, archive, part, [], sink, options.encryptedByDefault, (n) => {
          bytesWritten += n;
          options.onBytes(n);
        }),
      part.storedBytes,
    );
    filesWritten += findings.filesWritten ?? 0;
  };
  await runLimited(
    data.map((part) => () => extract(part)),
    options.concurrency,
  );
  log.info({ backup: name, parts: data.length, files: filesWritten }, 'WAL-G backup parts restored');

  // backup_label and tablespace_map, from their own tar (older WAL-G put them in the last part).
  if (label) await extract({ part: 0, key: label, files: 0, dataBytes: 0, storedBytes: 0 });
  if (!(await lstat(join(dest, 'backup_label')).catch(() => undefined))) {
    throw new WalshipError('BACKUP_CORRUPT', `WAL-G backup ${name} in ${store.location} holds no backup_label${label ? ` (not in ${label})` : ''}: without it PostgreSQL would start from the wrong checkpoint`, { details: { backup: name } });
  }
  await relocateTablespaceMap(dest, locations);
  for (const stale of ['recovery.signal', 'standby.signal']) await rm(join(dest, stale), { force: true });
  if (options.recovery) {
    await writeRecoveryConfig(dest, options.recovery, name);
    await chownOwned(join(dest, options.recovery.standby ? 'standby.signal' : 'recovery.signal'));
    await chownOwned(join(dest, 'postgresql.auto.conf'));
  }
  await fsyncDir(dest);

  // pg_control last, and the check that it is where PostgreSQL looks for it.
  await extract({ part: 0, key: control, files: 0, dataBytes: 0, storedBytes: 0 });
  if (!(await lstat(join(dest, 'global', 'pg_control')).catch(() => undefined))) {
    await rm(join(dest, 'backup_label'), { force: true });
    throw new WalshipError('BACKUP_CORRUPT', `${control} holds no global/pg_control: the backup is damaged`, { details: { backup: name, key: control } });
  }
  await fsyncDir(join(dest, 'global'));
  return { filesWritten, bytesWritten };
}

/**
 * tablespace_map names each tablespace's location; PostgreSQL recreates
 * pg_tblspc's links from it when it starts from a backup_label, so a
 * relocated tablespace's line must name its new location.
 */
async function relocateTablespaceMap(dest: string, locations: ReadonlyMap<string, string>): Promise<void> {
  const path = join(dest, 'tablespace_map');
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const lines = text.split('\n').map((line) => {
    const space = line.indexOf(' ');
    const location = space > 0 ? locations.get(line.slice(0, space)) : undefined;
    return location === undefined ? line : `${line.slice(0, space)} ${location}`;
  });
  const relocated = lines.join('\n');
  if (relocated !== text) await writeFile(path, relocated, { flush: true });
}
