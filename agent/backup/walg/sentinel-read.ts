import { WalshipError } from '../../errors.ts';
import { formatLsn, segmentNameForLsn } from '../../wal/names.ts';
import type { BackupSentinel } from '../manifest.ts';
import { WIDE_NUMBER_KEYS, type WalgMetadataDto, type WalgSentinelDto } from './dto.ts';
import { parseKeepingDigits } from './json-numbers.ts';

// Reading a stored sentinel, whichever tool wrote it: walship's (with
// WAL-G's fields beside its own, see sentinel-write.ts) or WAL-G's own
// BackupSentinelDto, which walship lists as WAL-G's.

/** WAL-G's keys in walship's stored sentinel: dropped on reading, walship's own fields say the same. */
const WALG_KEYS = ['LSN', 'Timeline', 'PgVersion', 'FinishLSN', 'SystemIdentifier', 'UncompressedSize', 'CompressedSize', 'DataCatalogSize', 'UserData', 'FilesMetadataDisabled', 'StartTime', 'FinishTime', 'DateFmt', 'Hostname', 'DataDir', 'IsPermanent'];

export type StoredSentinel = { tool: 'walship'; fields: Record<string, unknown> } | { tool: 'wal-g'; dto: WalgSentinelDto };

/** Parses a sentinel's text; `what` names it in errors. */
export function parseStoredSentinel(text: string, what: string): StoredSentinel {
  let parsed: unknown;
  try {
    parsed = parseKeepingDigits(text, WIDE_NUMBER_KEYS);
  } catch (err) {
    throw new WalshipError('CODEC_CORRUPT', `${what} is not valid JSON`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new WalshipError('CODEC_CORRUPT', `${what} is not a JSON object`);
  const fields = parsed as Record<string, unknown>;
  if (!('formatVersion' in fields) && ('LSN' in fields || 'FinishLSN' in fields)) return { tool: 'wal-g', dto: fields as unknown as WalgSentinelDto };
  const own: Record<string, unknown> = { ...fields };
  if (own['systemIdentifier'] === undefined && typeof fields['SystemIdentifier'] === 'string') own['systemIdentifier'] = fields['SystemIdentifier'];
  for (const key of WALG_KEYS) delete own[key];
  return { tool: 'walship', fields: own };
}

/** The parts of metadata.json walship reads, when WAL-G wrote one. */
export function parseWalgMetadata(text: string): Partial<WalgMetadataDto> | undefined {
  try {
    const parsed = parseKeepingDigits(text, WIDE_NUMBER_KEYS);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Partial<WalgMetadataDto>) : undefined;
  } catch {
    return undefined;
  }
}

const START_WAL = /^base_([0-9A-F]{24})/;

/**
 * A WAL-G backup as walship's catalogue holds backups. Times come from
 * metadata.json, else from the sentinel (V2), else from when the sentinel
 * was written; WAL-G's delta backups carry the base they need.
 */
export function walgBackup(name: string, dto: WalgSentinelDto, metadata: Partial<WalgMetadataDto> | undefined, written: Date, segmentSize = 16 * 1024 * 1024): BackupSentinel {
  const startWalFile = START_WAL.exec(name)?.[1] ?? '';
  const timeline = dto.Timeline ?? (startWalFile ? parseInt(startWalFile.slice(0, 8), 16) : 0);
  const start = dto.LSN !== undefined ? BigInt(dto.LSN) : undefined;
  const finish = dto.FinishLSN !== undefined ? BigInt(dto.FinishLSN) : undefined;
  const startTime = metadata?.start_time ?? dto.StartTime ?? written.toISOString();
  const finishTime = metadata?.finish_time ?? dto.FinishTime ?? written.toISOString();
  const userData = metadata?.user_data ?? dto.UserData;
  return {
    formatVersion: 0,
    tool: 'wal-g',
    name,
    startLsn: start === undefined ? '' : formatLsn(start),
    stopLsn: finish === undefined ? '' : formatLsn(finish),
    startWalFile,
    stopWalFile: finish === undefined || finish === 0n ? '' : segmentNameForLsn(timeline, finish - 1n, segmentSize),
    timeline,
    systemIdentifier: dto.SystemIdentifier ?? metadata?.system_identifier ?? '',
    pgVersion: dto.PgVersion ?? metadata?.pg_version ?? 0,
    startTime: new Date(startTime).toISOString(),
    finishTime: new Date(finishTime).toISOString(),
    hostname: metadata?.hostname ?? dto.Hostname ?? '',
    pgdata: metadata?.data_dir ?? dto.DataDir ?? '',
    fromStandby: false,
    dataBytes: dto.UncompressedSize ?? 0,
    storedBytes: dto.CompressedSize ?? 0,
    fileCount: 0,
    permanent: metadata?.is_permanent ?? dto.IsPermanent ?? false,
    ...(userData === undefined ? {} : { userData }),
    encoding: { compression: 'none', encrypted: false },
    manifestKey: '',
    ...(dto.DeltaFrom !== undefined ? { delta: { from: dto.DeltaFrom, fullName: dto.DeltaFullName ?? '', count: dto.DeltaCount ?? 0 } } : {}),
  };
}
