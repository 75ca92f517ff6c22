// A real WAL-G-format full backup of a running PostgreSQL 15 cluster, made
// the way WAL-G makes one, for tests that walship restores it. Follows
// wal-g/wal-g:
//   internal/databases/postgres/backup_push_handler.go  pg_backup_start
//     (non-exclusive, in one session), the data directory into tar
//     partitions, pg_backup_stop, then files_metadata.json, metadata.json
//     and, last, the sentinel basebackups_005/base_<start WAL file>_backup_stop_sentinel.json;
//   internal/databases/postgres/bundle.go  entries named from the data
//     directory's root with a leading '/', directories as entries of their
//     own, tablespaces followed through pg_tblspc/<oid> and the spec
//     recorded in the sentinel's Spec; ExcludedFilenames; global/pg_control
//     left out of the partitions and uploaded after pg_backup_stop in
//     pg_control.tar.<ext>; backup_label and tablespace_map (the texts
//     pg_backup_stop returns) in backup_label.tar.<ext>;
//   internal/databases/postgres/tablespace_spec.go  Spec's JSON:
//     base_prefix, tablespaces, and {"loc", "link"} per tablespace;
//   internal/databases/postgres/backup_sentinel_dto.go  the JSON shapes
//     (see walg-backup.ts, which writes the same catalogue objects around
//     placeholder tars).
// WAL goes WAL-G's way too: archive_command copies each segment aside
// (archiveDir), and pushWalgWal stores them as wal_005/<name>.lz4, as
// walg-objects.ts does.

import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import type { PgCluster } from './pg-cluster.ts';
import { putWalgObject, walgCompress } from './walg-objects.ts';

/** WAL-G's ExcludedFilenames (bundle.go): directories whose contents, and files that, never go into a backup. */
const EXCLUDED_CONTENTS = new Set(['pg_wal', 'pg_xlog', 'pg_log', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans', 'pgsql_tmp']);
const EXCLUDED_FILES = new Set(['postmaster.pid', 'postmaster.opts', 'postgresql.auto.conf.tmp', 'recovery.conf', 'recovery.signal', 'standby.signal', 'backup_label', 'backup_label.old', 'tablespace_map', 'tablespace_map.old']);
const PG_CONTROL = 'global/pg_control';

const goTime = (d: Date) => d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : 'Z'));

/** One ustar header block; WAL-G's tars are Go archive/tar's, plain ustar for short names. */
function header(name: string, size: number, mode: number, mtime: number, flag: '0' | '5' | '2' | '1', linkname = ''): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`test tar writer: ${name} is longer than 100 bytes`);
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write(`${(mode & 0o7777).toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write(`${Math.floor(mtime).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  block.write('        ', 148, 'latin1');
  block.write(flag, 156, 'latin1');
  block.write(linkname, 157, 100, 'utf8');
  block.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** A tar as Go's archive/tar writes WAL-G's: ustar entries, then two zero blocks. */
export class TarBuilder {
  readonly chunks: Buffer[] = [];
  readonly names: string[] = [];
  size = 0;
  dir(name: string, mode: number, mtime: number): void {
    this.#push(header(`${name}/`, 0, mode, mtime, '5'));
  }
  file(name: string, data: Buffer, mode: number, mtime: number): void {
    this.#push(header(name, data.length, mode, mtime, '0'), data, Buffer.alloc((512 - (data.length % 512)) % 512));
    this.names.push(name);
  }
  link(name: string, target: string, kind: 'symlink' | 'hardlink', mtime: number): void {
    this.#push(header(name, 0, 0o777, mtime, kind === 'symlink' ? '2' : '1', target));
  }
  end(): Buffer {
    return Buffer.concat([...this.chunks, Buffer.alloc(1024)]);
  }
  #push(...parts: Buffer[]): void {
    for (const p of parts) {
      this.chunks.push(p);
      this.size += p.length;
    }
  }
}

export interface WalgRealBackup {
  name: string;
  startLsn: string;
  stopLsn: string;
  /** Data files in the partitions, WAL-G's names ('/base/1/1259', ...). */
  files: string[];
}

/**
 * Takes a WAL-G full backup of the running cluster into store. `during` runs
 * between pg_backup_start and the copy, for changes the backup's WAL must replay.
 */
export async function takeWalgBackup(cluster: PgCluster, store: StorageDriver, options: { partitions?: number; during?: () => Promise<void> } = {}): Promise<WalgRealBackup> {
  const client = cluster.client();
  await client.connect();
  try {
    const startTime = new Date();
    const started = (await client.query<{ lsn: string; file: string; tli: number }>("select lsn::text, pg_walfile_name(lsn) as file, (select timeline_id from pg_control_checkpoint()) as tli from pg_backup_start('walg-format test', true) lsn")).rows[0]!;
    const name = `base_${started.file}`;
    await options.during?.();

    // The data directory and, through pg_tblspc's links, the tablespaces.
    const partitions = Array.from({ length: options.partitions ?? 2 }, () => new TarBuilder());
    const spec: Record<string, unknown> = { base_prefix: join(cluster.dataDir, 'pg_tblspc'), tablespaces: [] as string[] };
    const filesMeta: Record<string, unknown> = {};
    let next = 0;
    const walk = async (abs: string, rel: string): Promise<void> => {
      for (const entry of (await readdir(abs)).sort()) {
        const path = rel === '' ? entry : `${rel}/${entry}`;
        const full = join(abs, entry);
        const st = await lstat(full).catch(() => undefined);
        if (!st) continue; // removed while the backup ran, as WAL-G tolerates
        if (st.isSymbolicLink() && rel === 'pg_tblspc') {
          const location = await readlink(full);
          (spec['tablespaces'] as string[]).push(entry);
          spec[entry] = { loc: location, link: `pg_tblspc/${entry}` };
          partitions[0]!.dir(`/${path}`, 0o700, st.mtimeMs / 1000);
          await walk(location, path);
          continue;
        }
        if (st.isDirectory()) {
          partitions[0]!.dir(`/${path}`, st.mode, st.mtimeMs / 1000);
          if (!EXCLUDED_CONTENTS.has(entry)) await walk(full, path);
          continue;
        }
        if (!st.isFile() || path === PG_CONTROL || (rel === '' && EXCLUDED_FILES.has(entry)) || entry.startsWith('pgsql_tmp')) continue;
        const data = await readFile(full).catch(() => undefined);
        if (data === undefined) continue;
        // WAL-G fills each partition up to WALG_TAR_SIZE_THRESHOLD; here files go round the partitions.
        const tar = partitions[next++ % partitions.length]!;
        tar.file(`/${path}`, data, st.mode, st.mtimeMs / 1000);
        filesMeta[`/${path}`] = { IsIncremented: false, IsSkipped: false, MTime: goTime(st.mtime) };
      }
    };
    await walk(cluster.dataDir, '');

    const stopped = (await client.query<{ lsn: string; labelfile: string; spcmapfile: string }>('select lsn::text, labelfile, spcmapfile from pg_backup_stop(true)')).rows[0]!;
    const finishTime = new Date();
    const dir = `basebackups_005/${name}/`;
    const put = async (key: string, body: Buffer) => store.put(key, () => Readable.from([body]), { contentLength: body.length });
    const tarSets: Record<string, string[]> = {};
    let compressed = 0;
    let uncompressed = 0;
    const putTar = async (tarName: string, tar: TarBuilder) => {
      const plain = tar.end();
      const body = await walgCompress('lz4', plain);
      compressed += body.length;
      uncompressed += plain.length;
      tarSets[tarName] = tar.names;
      await put(`${dir}tar_partitions/${tarName}`, body);
    };
    for (const [i, tar] of partitions.entries()) await putTar(`part_${String(i + 1).padStart(3, '0')}.tar.lz4`, tar);

    const label = new TarBuilder();
    const now = finishTime.getTime() / 1000;
    label.file('/backup_label', Buffer.from(stopped.labelfile), 0o600, now);
    if (stopped.spcmapfile !== '') label.file('/tablespace_map', Buffer.from(stopped.spcmapfile), 0o600, now);
    await putTar('backup_label.tar.lz4', label);
    const control = new TarBuilder();
    const controlStat = await stat(join(cluster.dataDir, PG_CONTROL));
    control.file(`/${PG_CONTROL}`, await readFile(join(cluster.dataDir, PG_CONTROL)), controlStat.mode, controlStat.mtimeMs / 1000);
    await putTar('pg_control.tar.lz4', control);

    const lsnNumber = (lsn: string) => {
      const [hi, lo] = lsn.split('/') as [string, string];
      return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
    };
    const [{ sysid }] = (await client.query<{ sysid: string }>('select system_identifier::text as sysid from pg_control_system()')).rows as [{ sysid: string }];
    const [{ version }] = (await client.query<{ version: string }>("select current_setting('server_version_num') as version")).rows as [{ version: string }];
    const start = lsnNumber(started.lsn);
    const finish = lsnNumber(stopped.lsn);
    const specJson = (spec['tablespaces'] as string[]).length > 0 ? JSON.stringify(spec) : 'null';
    await put(`${dir}files_metadata.json`, Buffer.from(JSON.stringify({ Files: filesMeta, TarFileSets: tarSets })));
    await put(
      `${dir}metadata.json`,
      Buffer.from(
        `{"start_time":"${goTime(startTime)}","finish_time":"${goTime(finishTime)}","date_fmt":"%Y-%m-%dT%H:%M:%S.%fZ","hostname":"walg-host","data_dir":"${cluster.dataDir}",` +
          `"pg_version":${version},"start_lsn":${start},"finish_lsn":${finish},"is_permanent":false,"system_identifier":${sysid},"uncompressed_size":${uncompressed},"compressed_size":${compressed}}`,
      ),
    );
    await put(
      `basebackups_005/${name}_backup_stop_sentinel.json`,
      Buffer.from(
        `{"LSN":${start},"Timeline":${started.tli},"PgVersion":${version},"FinishLSN":${finish},"SystemIdentifier":${sysid},"UncompressedSize":${uncompressed},"CompressedSize":${compressed},"DataCatalogSize":${uncompressed},"Spec":${specJson},` +
          `"Version":2,"StartTime":"${goTime(startTime)}","FinishTime":"${goTime(finishTime)}","DateFmt":"%Y-%m-%dT%H:%M:%S.%fZ","Hostname":"walg-host","DataDir":"${cluster.dataDir}","IsPermanent":false}`,
      ),
    );
    return { name, startLsn: started.lsn, stopLsn: stopped.lsn, files: partitions.flatMap((p) => p.names) };
  } finally {
    await client.end();
  }
}

/** Every segment (and history file) archive_command copied into archiveDir, stored as WAL-G stores WAL; returns their names. */
export async function pushWalgWal(archiveDir: string, store: StorageDriver): Promise<string[]> {
  const names = (await readdir(archiveDir)).filter((n) => /^[0-9A-F]{24}$|^[0-9A-F]{8}\.history$/.test(n)).sort();
  for (const n of names) await putWalgObject(store, n, 'lz4', await readFile(join(archiveDir, n)));
  return names;
}
