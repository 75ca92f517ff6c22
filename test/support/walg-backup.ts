// WAL-G base backups as WAL-G writes their catalogue objects, for tests of
// a prefix that holds both tools' backups. Follows wal-g/wal-g:
//   internal/databases/postgres/backup_sentinel_dto.go  BackupSentinelDto and
//     BackupSentinelDtoV2 (the sentinel WAL-G uploads), ExtendedMetadataDto
//     (metadata.json), FilesMetadataDto (files_metadata.json); Go marshals
//     them in field order, LSNs (uint64) and SystemIdentifier (*uint64) as
//     JSON numbers, times as RFC 3339 with nanoseconds;
//   internal/databases/postgres/backup_push_handler.go  the names: base_<start
//     WAL file>, and base_<start WAL file>_D_<base's WAL file> for a delta;
//     the sentinel, basebackups_005/<name>_backup_stop_sentinel.json, last;
//   tar_partitions/part_NNN.tar.<ext>, pg_control.tar.<ext>, backup_label.tar.<ext>
//     under basebackups_005/<name>/.
// The tar objects here hold placeholder bytes: these fixtures are listed,
// kept and deleted, never restored.

import { Readable } from 'node:stream';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { segmentName } from '../../agent/wal/names.ts';

export interface WalgBackupSpec {
  timeline?: number;
  /** Start segment number (16 MiB segments). */
  pos: number;
  startTime: Date;
  finishTime: Date;
  systemIdentifier?: string;
  permanent?: boolean;
  /** For a delta backup: the backup it applies to, and the full backup of its chain. */
  delta?: { from: string; fullName: string; fromPos: number; count: number };
}

const SEGMENT = 16n * 1024n * 1024n;

/** Go's time.Time JSON: RFC 3339 with the fraction's trailing zeros trimmed. */
const goTime = (d: Date) => d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : 'Z'));

const put = (store: StorageDriver, key: string, text: string) => store.put(key, () => Readable.from([Buffer.from(text)]));

/** Writes a WAL-G backup's objects, the sentinel last; returns its name and keys. */
export async function writeWalgBackup(store: StorageDriver, spec: WalgBackupSpec): Promise<{ name: string; keys: string[]; startWalFile: string }> {
  const tl = spec.timeline ?? 1;
  const startWalFile = segmentName(tl, BigInt(spec.pos));
  const name = spec.delta ? `base_${startWalFile}_D_${segmentName(tl, BigInt(spec.delta.fromPos))}` : `base_${startWalFile}`;
  const startLsn = BigInt(spec.pos) * SEGMENT + 0x28n;
  const finishLsn = startLsn + SEGMENT / 2n;
  const sysid = spec.systemIdentifier ?? '7000000000000000001';
  const dir = `basebackups_005/${name}/`;
  // Written as Go's encoding/json would: numbers bare, in struct order.
  const sentinel =
    `{"LSN":${startLsn},"Timeline":${tl},` +
    (spec.delta ? `"DeltaLSN":${BigInt(spec.delta.fromPos) * SEGMENT + 0x28n},"DeltaFrom":"${spec.delta.from}","DeltaFullName":"${spec.delta.fullName}","DeltaCount":${spec.delta.count},` : '') +
    `"PgVersion":150018,"FinishLSN":${finishLsn},"SystemIdentifier":${sysid},"UncompressedSize":31457280,"CompressedSize":4194304,"DataCatalogSize":31457280,"Spec":null,` +
    `"Version":2,"StartTime":"${goTime(spec.startTime)}","FinishTime":"${goTime(spec.finishTime)}","DateFmt":"%Y-%m-%dT%H:%M:%S.%fZ","Hostname":"walg-host","DataDir":"/var/lib/postgresql/15/main","IsPermanent":${spec.permanent === true}}`;
  const metadata =
    `{"start_time":"${goTime(spec.startTime)}","finish_time":"${goTime(spec.finishTime)}","date_fmt":"%Y-%m-%dT%H:%M:%S.%fZ","hostname":"walg-host","data_dir":"/var/lib/postgresql/15/main",` +
    `"pg_version":150018,"start_lsn":${startLsn},"finish_lsn":${finishLsn},"is_permanent":${spec.permanent === true},"system_identifier":${sysid},"timeline":${tl},"uncompressed_size":31457280,"compressed_size":4194304}`;
  const files = `{"Files":{"/PG_VERSION":{"IsIncremented":false,"IsSkipped":false,"MTime":"${goTime(spec.startTime)}"}},"TarFileSets":{"part_001.tar.lz4":["/PG_VERSION"]}}`;
  const objects: [string, string][] = [
    [`${dir}tar_partitions/part_001.tar.lz4`, 'placeholder'],
    [`${dir}tar_partitions/pg_control.tar.lz4`, 'placeholder'],
    [`${dir}tar_partitions/backup_label.tar.lz4`, 'placeholder'],
    [`${dir}files_metadata.json`, files],
    [`${dir}metadata.json`, metadata],
    [`basebackups_005/${name}_backup_stop_sentinel.json`, sentinel],
  ];
  for (const [key, text] of objects) await put(store, key, text);
  return { name, keys: objects.map(([k]) => k), startWalFile };
}
