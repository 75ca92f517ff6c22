import { parseRetentionDuration } from '../backup/retention-duration.ts';
import { storageAliases } from './walg-settings.ts';
import { invalid, parseBoolean, parseChoice, parseDuration, parseInteger, parseNonEmpty, parseUrl, type RawValue } from './values.ts';

// Every setting walship reads, in one table: the loader validates against
// it, the CLI derives its flags from it, and the configuration reference in
// docs/configuration.md is generated from it, so none of them can drift apart.
// Names are WAL-G's wherever WAL-G has one, so a WAL-G Secret works as is.

export type SettingGroup = 'store' | 's3' | 'gcs' | 'azure' | 'codec' | 'transfer' | 'postgres' | 'agent' | 'retention';

export interface SettingSpec {
  name: string;
  /** Older names accepted for the same setting. */
  aliases?: readonly string[];
  group: SettingGroup;
  doc: string;
  /** Secrets are never printed, logged, or accepted as command-line flags. */
  secret?: boolean;
  /** The default, as a raw string, when there is one. */
  default?: string;
  /** Command-line flag (without --), for settings worth one. */
  flag?: string;
  /** Validates the raw value; the loader stores what it returns. */
  parse(raw: RawValue): unknown;
}

const text = (raw: RawValue) => parseNonEmpty(raw);

function parseCron(raw: RawValue): string {
  const v = raw.value.trim();
  if (v === 'off') return v;
  const fields = v.split(/\s+/).length;
  if (fields !== 5 && fields !== 6) throw invalid(raw, "a cron expression of 5 fields (or 6, seconds first), e.g. '0 1 * * *', or 'off'");
  return v;
}
/** A period of 1 s to a day, or 'off' (0). */
function parseIntervalOrOff(raw: RawValue): number {
  if (raw.value.trim() === 'off') return 0;
  if (!/^\d+(?:\.\d+)?\s*(ms|s|m|h)?$/.test(raw.value.trim())) throw invalid(raw, "a duration such as 30s, 10m or 1h, or 'off'");
  return parseDuration(raw, 1000, 86_400_000);
}
const COMPRESSION = ['lz4', 'zstd', 'brotli', 'gzip', 'none'] as const;

function parseRetentionWindow(raw: RawValue): number {
  const ms = parseRetentionDuration(raw.value);
  if (ms === undefined) throw invalid(raw, 'a duration such as 7d, 36h, 2w or 1d12h');
  return ms;
}

export const SETTINGS: readonly SettingSpec[] = [
  // Where the archive lives: exactly one of these.
  { name: 'WALG_FILE_PREFIX', aliases: ['WALE_FILE_PREFIX'], group: 'store', flag: 'file-prefix', doc: 'Filesystem store: a directory, e.g. /mnt/backups/pg-main.', parse: text },
  { name: 'WALG_S3_PREFIX', aliases: ['WALE_S3_PREFIX'], group: 'store', flag: 's3-prefix', doc: 'S3 store: s3://bucket/path.', parse: text },
  { name: 'WALG_GS_PREFIX', aliases: ['WALE_GS_PREFIX'], group: 'store', flag: 'gs-prefix', doc: 'Google Cloud Storage store: gs://bucket/path.', parse: text },
  { name: 'WALG_STORAGE_PREFIX', group: 'store', doc: "A folder inside the store set above, appended to its prefix, as WAL-G does (it gives each Greenplum segment its own, e.g. seg0).", parse: text },
  { name: 'WALG_AZ_PREFIX', group: 'store', flag: 'az-prefix', doc: 'Azure Blob store: azure://container/path.', parse: text },

  { name: 'AWS_ACCESS_KEY_ID', group: 's3', secret: true, doc: 'S3 access key id. Without it, the AWS SDK default chain (IRSA, instance profile) is used.', parse: text },
  { name: 'AWS_SECRET_ACCESS_KEY', group: 's3', secret: true, doc: 'S3 secret key; required with AWS_ACCESS_KEY_ID.', parse: text },
  { name: 'AWS_SESSION_TOKEN', group: 's3', secret: true, doc: 'S3 session token for temporary credentials.', parse: text },
  { name: 'AWS_REGION', aliases: ['AWS_DEFAULT_REGION'], group: 's3', doc: "S3 region. Unset, walship asks the bucket once (HeadBucket's x-amz-bucket-region), as WAL-G does; with AWS_ENDPOINT set, an S3-compatible store gets us-east-1.", parse: text },
  { name: 'AWS_ENDPOINT', group: 's3', flag: 's3-endpoint', doc: 'S3-compatible endpoint URL (MinIO, Ceph, ...).', parse: parseUrl },
  { name: 'AWS_S3_FORCE_PATH_STYLE', group: 's3', default: 'false', doc: 'Path-style addressing (bucket in the path), as most S3-compatible stores want.', parse: parseBoolean },
  { name: 'S3_STORAGE_CLASS', aliases: storageAliases('S3_STORAGE_CLASS'), group: 's3', doc: 'Storage class for new objects, e.g. STANDARD_IA.', parse: (r) => parseNonEmpty(r).toUpperCase() },
  { name: 'S3_SSE', aliases: storageAliases('S3_SSE'), group: 's3', doc: 'Server-side encryption: AES256 or aws:kms.', parse: (r) => (parseChoice(r, ['aes256', 'aws:kms']) === 'aes256' ? 'AES256' : 'aws:kms') },
  { name: 'S3_SSE_KMS_ID', aliases: storageAliases('S3_SSE_KMS_ID'), group: 's3', doc: 'KMS key id for S3_SSE=aws:kms.', parse: text },
  { name: 'S3_CA_CERT_FILE', aliases: storageAliases('S3_CA_CERT_FILE'), group: 's3', doc: 'PEM file of the CA that signed the S3 endpoint certificate.', parse: text },
  { name: 'WALSHIP_S3_CHECKSUMS', group: 's3', default: 'when_supported', doc: 'when_supported (SDK default) or when_required, for S3-compatible stores that mishandle flexible checksums.', parse: (r) => parseChoice(r, ['when_supported', 'when_required']) },

  { name: 'GOOGLE_APPLICATION_CREDENTIALS', group: 'gcs', doc: 'Service-account JSON file. Without it, the Google default chain (workload identity) is used.', parse: text },
  { name: 'STORAGE_EMULATOR_HOST', group: 'gcs', doc: 'GCS endpoint override (emulators, private endpoints), e.g. http://127.0.0.1:4443.', parse: parseUrl },

  { name: 'AZURE_STORAGE_ACCOUNT', group: 'azure', doc: 'Azure storage account name.', parse: text },
  { name: 'AZURE_STORAGE_ACCESS_KEY', aliases: ['AZURE_STORAGE_KEY'], group: 'azure', secret: true, doc: 'Azure storage account key.', parse: text },
  { name: 'AZURE_STORAGE_SAS_TOKEN', group: 'azure', secret: true, doc: 'Azure SAS token, instead of the account key.', parse: text },
  { name: 'AZURE_STORAGE_CONNECTION_STRING', group: 'azure', secret: true, doc: 'Azure connection string, instead of account and key.', parse: text },
  { name: 'WALSHIP_AZ_ENDPOINT', group: 'azure', doc: 'Blob service URL; defaults to https://<account>.blob.core.windows.net.', parse: parseUrl },

  { name: 'WALG_COMPRESSION_METHOD', group: 'codec', default: 'lz4', flag: 'compression', doc: `Compression of new objects: ${COMPRESSION.join(', ')}. Reading always follows how each object was written.`, parse: (r) => parseChoice(r, COMPRESSION) },
  { name: 'WALG_ZSTD_LEVEL', group: 'codec', default: '1', doc: 'zstd level of new objects with WALG_COMPRESSION_METHOD=zstd, 1 to 22: higher packs tighter and costs more CPU beside PostgreSQL (level 1 measured at 2.8 % of a WAL segment, 1500 MiB/s; WAL-G uses 3).', parse: (r) => parseInteger(r, 1, 22) },
  { name: 'WALG_PGP_KEY', group: 'codec', secret: true, doc: 'Armored OpenPGP key. A public key suffices to archive; restoring needs the private key. A one-line key with literal \\n sequences, as WAL-G accepts, is read too.', parse: text },
  { name: 'WALG_PGP_KEY_PATH', group: 'codec', doc: 'File holding the armored OpenPGP key, instead of WALG_PGP_KEY.', parse: text },
  { name: 'WALG_PGP_KEY_PASSPHRASE', group: 'codec', secret: true, doc: 'Passphrase of the private key.', parse: (r) => r.value },

  { name: 'WALG_UPLOAD_CONCURRENCY', group: 'transfer', default: '4', flag: 'upload-concurrency', doc: 'Parallel uploads (WAL segments ahead of the archiver, backup files).', parse: (r) => parseInteger(r, 1, 64) },
  { name: 'WALG_DOWNLOAD_CONCURRENCY', group: 'transfer', default: '4', flag: 'download-concurrency', doc: 'Parallel downloads (WAL prefetch, restore).', parse: (r) => parseInteger(r, 1, 64) },
  { name: 'WALSHIP_STORE_TIMEOUT', group: 'transfer', default: '30s', doc: 'Deadline for a store call that moves no body (stat, list, delete, first byte of a read).', parse: (r) => parseDuration(r, 100, 3_600_000) },
  { name: 'WALSHIP_STORE_IDLE_TIMEOUT', group: 'transfer', default: '60s', doc: 'An upload or download that makes no progress for this long is aborted.', parse: (r) => parseDuration(r, 100, 3_600_000) },
  { name: 'WALSHIP_STORE_ATTEMPTS', group: 'transfer', default: '5', doc: 'Attempts per store call, the first included; retries back off exponentially with jitter.', parse: (r) => parseInteger(r, 1, 20) },
  { name: 'WALSHIP_PUSH_TIMEOUT', group: 'transfer', default: '60s', doc: "Overall deadline of one wal-push (an archive_command call, standalone or served by the agent), retries included: past it the store calls under way are aborted and it fails with STORE_TIMEOUT (exit 75); PostgreSQL retries the segment later.", parse: (r) => parseDuration(r, 100, 86_400_000) },
  { name: 'WALSHIP_FETCH_TIMEOUT', group: 'transfer', default: '120s', doc: "Overall deadline of one wal-fetch (a restore_command call, standalone or served by the agent), retries included: past it the download is aborted, nothing is left at %p, and it fails with WAL_FETCH_FAILED (exit 126), which stops recovery rather than ending it early.", parse: (r) => parseDuration(r, 100, 86_400_000) },
  { name: 'WALSHIP_STORE_BACKOFF', group: 'transfer', default: '200ms', doc: 'Base backoff before the first retry; doubles each retry, capped at 10 s.', parse: (r) => parseDuration(r, 1, 60_000) },

  { name: 'WALG_DELTA_MAX_STEPS', group: 'agent', default: '0', doc: 'Delta backups allowed between two full backups. Delta backups are not implemented yet: above 0 walship warns, and every backup is full.', parse: (r) => parseInteger(r, 0, 1000) },
  { name: 'WALG_PREVENT_WAL_OVERWRITE', group: 'agent', default: 'true', doc: 'Refuse to replace an archived WAL file with different content. walship keeps this on by default (WAL-G does not): an overwrite hides split-brain. false replaces such a file, as WAL-G does, with a warning in the log each time.', parse: parseBoolean },
  { name: 'WALSHIP_FETCH_HOLE', group: 'agent', default: 'fail', doc: "What wal-fetch answers for a segment missing while the archive goes on past it (a later segment of its timeline, or a later timeline's history placing the timeline's end further on): fail exits 126 (WAL_ARCHIVE_HOLE), so recovery stops with FATAL; end exits 74 as for the end of the archive, so recovery ends at the hole and the cluster is promoted without what follows, for when that loss is accepted. A standby (standby.signal) is answered 74 with the warning either way: it keeps asking and never promotes by itself.", parse: (r) => parseChoice(r, ['fail', 'end']) },
  { name: 'WALSHIP_LOG_LEVEL', group: 'agent', default: 'info', flag: 'log-level', doc: 'Log level: debug, info, warn, error.', parse: (r) => parseChoice(r, ['debug', 'info', 'warn', 'error']) },

  { name: 'WALSHIP_SPOOL_DIR', group: 'agent', default: '/walship/spool', flag: 'spool-dir', doc: 'The directory, on a volume shared with the postgres container, where walship-client leaves requests for the agent. The client finds it as spool/ beside itself.', parse: text },
  { name: 'WALSHIP_UPLOAD_AHEAD', group: 'agent', default: 'true', doc: 'Upload segments as soon as PostgreSQL marks them ready (needs PGDATA), so archive_command finds them already stored.', parse: parseBoolean },
  { name: 'WALSHIP_FOLLOW_WAL', group: 'agent', default: 'true', doc: 'Read the segment PostgreSQL is writing as it grows (needs PGDATA), hashing and compressing its finished pages ahead, so that archiving a just-finished segment only compares it with what was read and encodes its last pages. Costs one more read of each segment from the page cache; it stands aside while segments come faster than they are uploaded one by one, when it would only take CPU from PostgreSQL.', parse: parseBoolean },
  { name: 'WALSHIP_HTTP_ADDRESS', group: 'agent', default: ':9351', flag: 'http-address', doc: 'Where the agent serves /metrics, /healthz and /readyz: [host]:port. 9351 keeps clear of postgres_exporter (9187) and node_exporter (9100).', parse: (r) => { if (!/^(?:\[?[^\]]*\]?:)?\d{1,5}$/.test(r.value.trim())) throw invalid(r, 'a listen address such as :9351 or 127.0.0.1:9351'); return r.value.trim(); } },
  { name: 'WALSHIP_SHUTDOWN_GRACE', group: 'agent', default: '20s', doc: 'On SIGTERM, how long the agent waits for uploads under way before it exits; below Kubernetes\' default 30 s grace period.', parse: (r) => parseDuration(r, 0, 600_000) },
  { name: 'WALSHIP_HEALTH_INTERVAL', group: 'agent', default: '15s', doc: "How often the agent checks that the store and PostgreSQL answer, for /readyz and the walship_store_up and walship_postgres_up metrics; probes read the last result, so they never wait on a slow store.", parse: (r) => parseDuration(r, 100, 3_600_000) },
  { name: 'WALSHIP_BACKUP_CATALOG_INTERVAL', group: 'agent', default: '5m', doc: "How often the agent reads the store's backup catalogue for the walship_backups, walship_backup_last_success_timestamp_seconds and walship_recovery_first_point_timestamp_seconds metrics, whatever WALSHIP_BACKUP_SCHEDULE says; also at start-up and after each of its backups and retentions. Backups taken or deleted elsewhere (by hand, by another pod) show within this time. Each read lists the backups and reads every backup's sentinel.", parse: (r) => parseDuration(r, 1000, 86_400_000) },
  { name: 'WALSHIP_CHECK_WAL_TIMEOUT', group: 'agent', default: '60s', doc: "How long walship check (and the agent's start-up check) waits for the segment a forced WAL switch (pg_switch_wal()) finished to arrive in the store before it fails with ARCHIVE_CHECK_TIMEOUT.", parse: (r) => parseDuration(r, 100, 3_600_000) },
  { name: 'WALSHIP_WAL_VERIFY_INTERVAL', group: 'agent', default: '10m', doc: "How often the agent runs wal-verify's integrity and timeline checks for the walship_wal_integrity_ok and walship_wal_first_missing_segment metrics; also at start-up and after a promotion, when it first uploads missing segments and .history files still in the local pg_wal (the WAL gap after a failover). Each run lists wal_005/ once and reads the backups' sentinels. 'off' for never.", parse: parseIntervalOrOff },
  { name: 'WALSHIP_BACKUP_SCHEDULE', group: 'agent', default: '0 1 * * *', doc: "When the agent takes base backups: a cron expression in UTC, 5 fields or 6 with seconds first; 'off' for none. The agent also takes a first backup at once when the archive has none.", parse: parseCron },
  { name: 'WALSHIP_DRILL_SCHEDULE', group: 'agent', default: 'off', doc: "When the agent runs a restore drill (restore-drill of LATEST: a real restore into a scratch directory, recovered through walship's own wal-fetch, started and checked, then deleted): a cron expression in UTC like WALSHIP_BACKUP_SCHEDULE, or 'off'. Never two at once, nor during one of the agent's backups; a drill due then is skipped.", parse: parseCron },
  { name: 'WALSHIP_DRILL_DISK_BUDGET', group: 'agent', default: '0', doc: "MiB a restore drill may use in its scratch directory: a drill whose backup (its data, plus room for the WAL it replays) needs more is refused before it starts. 0: no budget, only the free space of the scratch directory's filesystem.", parse: (r) => parseInteger(r, 0, 1 << 30) },
  { name: 'WALSHIP_DRILL_DIR', group: 'agent', doc: "Where restore drills make their scratch directory (deleted after each drill); the system's temporary directory unless set. In Kubernetes, a volume of its own.", parse: text },
  { name: 'WALSHIP_DRILL_USER', group: 'agent', default: 'postgres', doc: 'The user a restore drill runs PostgreSQL as when walship runs as root (PostgreSQL refuses root): through runuser. Not used otherwise: the drill runs PostgreSQL as its own user.', parse: text },
  { name: 'WALSHIP_DRILL_TIMEOUT', group: 'agent', default: '1h', doc: "The longest a restore drill may take until PostgreSQL accepts queries, counted from its start: past it a recovery still under way is stopped, the directory deleted and the drill fails (the restore itself is not cut short).", parse: (r) => parseDuration(r, 1000, 7 * 86_400_000) },
  { name: 'WALSHIP_PGBIN', group: 'agent', doc: "The directory of the PostgreSQL server binaries (postgres, pg_ctl, pg_controldata) a restore drill runs, of the backup's major version. Unset: found on PATH, then in /usr/lib/postgresql/<major>/bin (Debian, PGDG) and /usr/pgsql-<major>/bin (PGDG RPMs).", parse: text },
  { name: 'WALSHIP_BACKUP_PART_SIZE', group: 'agent', default: '256', doc: 'MiB of file data per backup part: parts upload and restore in parallel.', parse: (r) => parseInteger(r, 1, 65536) },
  { name: 'WALSHIP_BACKUP_WAL_TIMEOUT', group: 'agent', default: '5m', doc: "How long backup-push waits for the backup's last WAL segment to reach the store before it fails.", parse: (r) => parseDuration(r, 1000, 86_400_000) },
  { name: 'WALSHIP_ENVDIR', group: 'agent', flag: 'envdir', doc: 'A directory of files, one variable per file, as a Kubernetes Secret is mounted. Read before the environment, which overrides it.', parse: text },
  { name: 'WALSHIP_CONFIG', group: 'agent', flag: 'config', doc: 'A YAML or JSON file of these variables. Read first; the envdir, the environment and flags override it.', parse: text },

  // What the agent deletes after each successful backup; `walship delete` does the same by hand.
  { name: 'WALSHIP_RETENTION_FULL', group: 'retention', default: '7', doc: 'After each backup, keep this many newest backups (by start time), permanent backups, and the WAL they need; delete older backups and WAL. 0 turns this rule off.', parse: (r) => parseInteger(r, 0, 100_000) },
  { name: 'WALSHIP_RETENTION_WINDOW', group: 'retention', doc: "After each backup, also keep every backup needed to recover to any point of this last period (e.g. 7d, 36h): Barman's recovery window. With WALSHIP_RETENTION_FULL, a backup either rule keeps is kept.", parse: parseRetentionWindow },

  { name: 'PGHOST', group: 'postgres', doc: 'PostgreSQL host or socket directory.', parse: text },
  { name: 'PGPORT', group: 'postgres', default: '5432', doc: 'PostgreSQL port.', parse: (r) => parseInteger(r, 1, 65535) },
  { name: 'PGUSER', group: 'postgres', doc: 'PostgreSQL user.', parse: text },
  { name: 'PGPASSWORD', group: 'postgres', secret: true, doc: 'PostgreSQL password.', parse: (r) => r.value },
  { name: 'PGDATABASE', group: 'postgres', doc: 'PostgreSQL database to connect to.', parse: text },
  { name: 'PGDATA', group: 'postgres', flag: 'pgdata', doc: 'The data directory.', parse: text },
];

export const RESERVED_PREFIXES = ['WALG_', 'WALE_', 'WALSHIP_'] as const;

const byName = new Map<string, SettingSpec>();
for (const spec of SETTINGS) {
  byName.set(spec.name, spec);
  for (const alias of spec.aliases ?? []) byName.set(alias, spec);
}

export function settingNamed(name: string): SettingSpec | undefined {
  return byName.get(name);
}
