// WAL-G's JSON structs as schemas, field for field from its Go source
// (wal-g/wal-g, internal/databases/postgres/backup_sentinel_dto.go:
// BackupSentinelDto, BackupSentinelDtoV2, ExtendedMetadataDto; LSN is
// `type LSN uint64`), and a check that decodes a JSON text the way Go's
// encoding/json does: each key goes to the field of that exact name, else
// to one whose name matches it case-insensitively, and a value of another
// type fails the whole Unmarshal. Values are checked from the raw text, so
// a uint64 above 2^53 is checked digit for digit.

export type GoType = 'uint64' | 'uint32' | 'int' | 'int64' | 'bool' | 'string' | 'time' | 'any' | 'object|null';

export interface GoField {
  type: GoType;
  /** Not a pointer and not omitempty: WAL-G reads it as it is (a missing one is Go's zero value, a wrong one). */
  required: boolean;
}

const f = (type: GoType, required = true): GoField => ({ type, required });

/** BackupSentinelDto, with BackupSentinelDtoV2's additions (WAL-G 3 uploads both in one object). */
export const WALG_SENTINEL: Readonly<Record<string, GoField>> = {
  LSN: f('uint64'),
  Timeline: f('uint32'),
  DeltaLSN: f('uint64', false),
  DeltaFrom: f('string', false),
  DeltaFullName: f('string', false),
  DeltaCount: f('int', false),
  PgVersion: f('int'),
  FinishLSN: f('uint64'),
  SystemIdentifier: f('uint64'),
  UncompressedSize: f('int64'),
  CompressedSize: f('int64'),
  DataCatalogSize: f('int64', false),
  Spec: f('object|null', false),
  UserData: f('any', false),
  FilesMetadataDisabled: f('bool', false),
  Version: f('int', false),
  StartTime: f('time'),
  FinishTime: f('time'),
  DateFmt: f('string', false),
  Hostname: f('string'),
  DataDir: f('string'),
  IsPermanent: f('bool'),
};

/** ExtendedMetadataDto: metadata.json. */
export const WALG_METADATA: Readonly<Record<string, GoField>> = {
  start_time: f('time'),
  finish_time: f('time'),
  date_fmt: f('string'),
  hostname: f('string'),
  data_dir: f('string'),
  pg_version: f('int'),
  start_lsn: f('uint64'),
  finish_lsn: f('uint64'),
  is_permanent: f('bool'),
  system_identifier: f('uint64'),
  timeline: f('uint32'),
  uncompressed_size: f('int64'),
  compressed_size: f('int64'),
  user_data: f('any', false),
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function typeError(type: GoType, value: unknown, source: string | undefined): string | undefined {
  const whole = (max: bigint, signed: boolean) => {
    if (typeof value !== 'number' || source === undefined || !/^-?\d+$/.test(source)) return `a JSON integer (${type})`;
    const n = BigInt(source);
    if (n > max || (!signed && n < 0n) || (signed && n < -max - 1n)) return `within ${type}`;
    return undefined;
  };
  switch (type) {
    case 'uint64':
      return whole(2n ** 64n - 1n, false);
    case 'uint32':
      return whole(2n ** 32n - 1n, false);
    case 'int':
    case 'int64':
      return whole(2n ** 63n - 1n, true);
    case 'bool':
      return typeof value === 'boolean' ? undefined : 'a JSON boolean';
    case 'string':
      return typeof value === 'string' ? undefined : 'a JSON string';
    case 'time':
      return typeof value === 'string' && RFC3339.test(value) ? undefined : 'an RFC 3339 time string (Go time.Time)';
    case 'object|null':
      return value === null || (typeof value === 'object' && !Array.isArray(value)) ? undefined : 'an object or null';
    case 'any':
      return undefined;
  }
}

/**
 * What Go's json.Unmarshal into the struct would complain of, plus the
 * required fields that are missing: empty when WAL-G reads the text whole.
 */
export function goDecodeProblems(text: string, schema: Readonly<Record<string, GoField>>): string[] {
  const sources = new Map<string, string>();
  const top = JSON.parse(text, function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
    if (context?.source !== undefined && this !== null && typeof this === 'object' && Object.getPrototypeOf(this) === Object.prototype) sources.set(key, context.source);
    return value;
  } as (this: unknown, key: string, value: unknown) => unknown) as Record<string, unknown>;
  const problems: string[] = [];
  const folded = new Map(Object.keys(schema).map((k) => [k.toLowerCase(), k]));
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(top)) {
    const field = key in schema ? key : folded.get(key.toLowerCase());
    if (field === undefined) continue;
    seen.add(field);
    const wrong = typeError(schema[field]!.type, value, sources.get(key));
    if (wrong) problems.push(`${key} (Go field ${field}) is ${JSON.stringify(value)}, not ${wrong}`);
  }
  for (const [field, spec] of Object.entries(schema)) if (spec.required && !seen.has(field)) problems.push(`${field} is missing`);
  return problems;
}
