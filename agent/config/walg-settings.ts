// Every variable a WAL-G (or Spilo) Secret may hold that walship does not
// implement, sorted into the two other kinds: accepted and ignored, with a
// warning that says why, or refused, with an error that says what to do
// instead. Walked from WAL-G's own list (wal-g/wal-g internal/config/config.go
// and its storage adapters' settings, which take each name as is and with
// WALG_ and WALE_ in front), so a WAL-G Secret loads unchanged and nothing
// in it is dropped without a word. What walship implements is in settings.ts.

const DELTA = 'delta backups are not implemented yet: every backup is full';
const PARTS = 'walship cuts backups into parts of WALSHIP_BACKUP_PART_SIZE, read and compressed by its own workers';
const PARALLEL = 'walship bounds its work by WALG_UPLOAD_CONCURRENCY and WALG_DOWNLOAD_CONCURRENCY';
const RETRIES = 'walship retries every store call under WALSHIP_STORE_ATTEMPTS and WALSHIP_STORE_BACKOFF';
const TIMEOUTS = 'walship bounds every store call by WALSHIP_STORE_TIMEOUT and WALSHIP_STORE_IDLE_TIMEOUT';
const NO_LIMIT = 'walship has no rate limit; it bounds parallel work by WALG_UPLOAD_CONCURRENCY instead';
const OTHER_DB = 'a WAL-G setting for another database; walship archives PostgreSQL only';
const GO = "a setting of WAL-G's Go runtime; walship runs on Node.js";
const METRICS = 'walship serves Prometheus metrics on WALSHIP_HTTP_ADDRESS instead';
const PG_CONN = 'walship connects to PostgreSQL with PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE only (over the local socket in a pod)';
const SDK_CHAIN = 'not passed on by walship: the AWS SDK reads it itself from the process environment (not from an envdir) when AWS_ACCESS_KEY_ID is unset';
const NOT_STORE = (what: string) => `only used with ${what}, which walship refuses`;
const CLONE = 'a Spilo clone-mode setting: walship does not clone from here; restore a clone with the overlay in k8s-examples/overlays/clone, which sets the source archive as WALG_* variables of its own';
const SPILO = (instead: string) => `a Spilo setting; walship's own is ${instead}`;

/** Accepted and ignored, each with the warning's reason. */
export const IGNORED_WALG_SETTINGS: Readonly<Record<string, string>> = {
  WALG_UPLOAD_DISK_CONCURRENCY: PARALLEL,
  WALG_UPLOAD_QUEUE: PARALLEL,
  TOTAL_BG_UPLOADED_LIMIT: 'walship uploads ready segments ahead of the archiver, bounded by WALG_UPLOAD_CONCURRENCY',
  WALG_DOWNLOAD_FILE_RETRIES: RETRIES,
  WALG_SENTINEL_USER_DATA: 'walship backups carry no user data yet',
  WALG_UPLOAD_WAL_METADATA: 'walship records its own metadata (size, checksum, encoding) on every WAL object',
  WALG_DELTA_ORIGIN: DELTA,
  WALG_USE_WAL_DELTA: DELTA,
  WALG_FORCE_WAL_DELTA: DELTA,
  WALG_DELTA_FROM_NAME: DELTA,
  WALG_DELTA_FROM_USER_DATA: DELTA,
  WALG_DISK_RATE_LIMIT: NO_LIMIT,
  WALG_NETWORK_RATE_LIMIT: NO_LIMIT,
  WALG_USE_REVERSE_UNPACK: 'walship restores each file once, from the part that holds it',
  WALG_SKIP_REDUNDANT_TARS: 'walship restores each file once, from the part that holds it',
  WALG_VERIFY_PAGE_CHECKSUMS: 'walship checks page checksums when asked with backup-push --verify',
  WALG_STORE_ALL_CORRUPT_BLOCKS: 'backup-push --verify reports the corrupt pages it finds',
  WALG_USE_RATING_COMPOSER: PARTS,
  WALG_USE_COPY_COMPOSER: PARTS,
  WALG_USE_DATABASE_COMPOSER: PARTS,
  WALG_TAR_SIZE_THRESHOLD: PARTS,
  WALG_WITHOUT_FILES_METADATA: 'walship always writes its manifest of files, which restore checks',
  WALG_TAR_DISABLE_FSYNC: 'walship decides itself what a restore syncs',
  WALG_DIRECT_IO: 'walship reads through the page cache',
  WALG_LOG_LEVEL: 'WAL-G log levels do not map onto walship\'s; set WALSHIP_LOG_LEVEL',
  WALG_LOG_DESTINATION: 'walship logs JSON lines to stderr',
  WALG_PREFETCH_DIR: 'the agent prefetches WAL into .wal-g/prefetch beside pg_wal, as WAL-G does by default',
  PG_READY_RENAME: "walship leaves .ready and .done files to PostgreSQL's archiver",
  WALG_SERIALIZER_TYPE: 'walship writes JSON',
  WALG_STATSD_ADDRESS: METRICS,
  WALG_STATSD_EXTRA_TAGS: METRICS,
  HTTP_LISTEN: METRICS,
  HTTP_EXPOSE_PPROF: METRICS,
  HTTP_EXPOSE_EXPVAR: METRICS,
  PROFILE_SAMPLING_RATIO: GO,
  PROFILE_MODE: GO,
  PROFILE_PATH: GO,
  GOMAXPROCS: GO,
  GODEBUG: GO,
  WALG_ALIVE_CHECK_INTERVAL: 'the agent checks PostgreSQL every WALSHIP_HEALTH_INTERVAL',
  WALG_STOP_BACKUP_TIMEOUT: "walship waits for the backup's last WAL by WALSHIP_BACKUP_WAL_TIMEOUT",
  WALG_DAEMON_WAL_UPLOAD_TIMEOUT: TIMEOUTS,
  WALG_INTEGRITY_MAX_DELAYED_WALS: 'walship checks that archived WAL is contiguous on its own',
  WALG_DISABLE_PARTIAL_RESTORE: 'walship restores whole clusters only',
  WALG_SLOTNAME: 'walship archives through archive_command, not a replication slot',
  WALG_PG_WAL_SIZE: "walship checks each segment's size against its own header",
  WALG_PG_WAL_PAGE_SIZE: "walship checks each segment's header",
  WALG_PG_BLOCK_SIZE: "walship's page checks assume PostgreSQL's 8 KiB pages; the backup itself copies files whole",
  WALG_STREAM_CREATE_COMMAND: OTHER_DB,
  WALG_STREAM_RESTORE_COMMAND: OTHER_DB,
  WALG_BACKUP_DOWNLOAD_MAX_RETRY: OTHER_DB,
  PGBACKREST_STANZA: 'walship does not read pgBackRest archives',
  WALG_ENVELOPE_CACHE_EXPIRATION: NOT_STORE('WALG_ENVELOPE_PGP_KEY'),
  PGPASSFILE: PG_CONN,
  PGSSLMODE: PG_CONN,
  PGSSLKEY: PG_CONN,
  PGSSLCERT: PG_CONN,
  PGSSLROOTCERT: PG_CONN,
  PGAPPNAME: PG_CONN,
  WALG_FAILOVER_STORAGES_CHECK: NOT_STORE('WALG_FAILOVER_STORAGES'),
  WALG_FAILOVER_STORAGES_CHECK_TIMEOUT: NOT_STORE('WALG_FAILOVER_STORAGES'),
  WALG_FAILOVER_STORAGES_CHECK_SIZE: NOT_STORE('WALG_FAILOVER_STORAGES'),
  WALG_FAILOVER_STORAGES_CACHE_LIFETIME: NOT_STORE('WALG_FAILOVER_STORAGES'),
  WALG_TARGET_STORAGE: NOT_STORE('WALG_FAILOVER_STORAGES'),

  // S3 transport: each also as WALG_<name> and WALE_<name> (see storageAliases).
  S3_MAX_PART_SIZE: 'walship picks multipart sizes itself',
  S3_USE_LIST_OBJECTS_V1: 'walship lists with ListObjectsV2',
  S3_LOG_LEVEL: 'walship logs store errors itself',
  S3_RANGE_BATCH_ENABLED: `walship reads an object in one request, ${RETRIES.replace('walship ', '')}`,
  S3_RANGE_MAX_RETRIES: RETRIES,
  S3_MAX_RETRIES: RETRIES,
  S3_MIN_THROTTLING_RETRY_DELAY: RETRIES,
  S3_MAX_THROTTLING_RETRY_DELAY: RETRIES,
  S3_SKIP_VALIDATION: 'walship checks the configuration before any request anyway',
  S3_DISABLE_100_CONTINUE: 'the AWS SDK decides on Expect: 100-continue',
  S3_ENABLE_VERSIONING: 'walship neither needs nor manages bucket versioning',
  S3_DELETE_BATCH_SIZE: 'walship deletes in batches of its own size',
  AWS_DEFAULT_OUTPUT: 'an aws CLI setting',
  AWS_PROFILE: SDK_CHAIN,
  AWS_ROLE_ARN: SDK_CHAIN,
  AWS_ROLE_SESSION_NAME: SDK_CHAIN,
  AWS_WEB_IDENTITY_TOKEN_FILE: SDK_CHAIN,
  AWS_SHARED_CREDENTIALS_FILE: SDK_CHAIN,
  AWS_CONFIG_FILE: SDK_CHAIN,
  AWS_CA_BUNDLE: 'walship trusts the CA in S3_CA_CERT_FILE (WALG_S3_CA_CERT_FILE)',
  // GCS and Azure transport.
  GCS_CONTEXT_TIMEOUT: TIMEOUTS,
  GCS_NORMALIZE_PREFIX: 'walship always normalises prefixes (no leading, trailing or doubled slashes)',
  GCS_MAX_CHUNK_SIZE: 'walship picks upload chunk sizes itself',
  GCS_MAX_RETRIES: RETRIES,
  AZURE_BUFFER_SIZE: 'walship picks upload block sizes itself',
  AZURE_MAX_BUFFERS: 'walship picks upload block sizes itself',
  AZURE_TRY_TIMEOUT: TIMEOUTS,
  // Stores walship refuses: their credentials alone are harmless.
  OS_AUTH_URL: NOT_STORE('WALG_SWIFT_PREFIX'),
  OS_USERNAME: NOT_STORE('WALG_SWIFT_PREFIX'),
  OS_PASSWORD: NOT_STORE('WALG_SWIFT_PREFIX'),
  OS_TENANT_NAME: NOT_STORE('WALG_SWIFT_PREFIX'),
  OS_REGION_NAME: NOT_STORE('WALG_SWIFT_PREFIX'),
  SSH_PORT: NOT_STORE('WALG_SSH_PREFIX'),
  SSH_PASSWORD: NOT_STORE('WALG_SSH_PREFIX'),
  SSH_USERNAME: NOT_STORE('WALG_SSH_PREFIX'),
  SSH_PRIVATE_KEY_PATH: NOT_STORE('WALG_SSH_PREFIX'),
  YC_SERVICE_ACCOUNT_KEY_FILE: NOT_STORE('YC_CSE_KMS_KEY_ID'),

  // Spilo's own variables, beside the WAL-G ones in the same Secret.
  WALG_DISABLE_S3_SSE: 'a Spilo setting: walship asks for server-side encryption only when S3_SSE (WALG_S3_SSE) is set',
  USE_WALG_BACKUP: 'a Spilo setting: walship always archives with its own format, which WAL-G reads',
  USE_WALG_RESTORE: 'a Spilo setting: walship restores with wal-fetch and backup-fetch',
  BACKUP_SCHEDULE: SPILO('WALSHIP_BACKUP_SCHEDULE'),
  BACKUP_NUM_TO_RETAIN: SPILO('WALSHIP_RETENTION_FULL'),
  WAL_S3_BUCKET: SPILO('WALG_S3_PREFIX=s3://<bucket>/<path>, which Spilo derives from it; set it'),
  WAL_GS_BUCKET: SPILO('WALG_GS_PREFIX=gs://<bucket>/<path>'),
  WAL_BUCKET_SCOPE_PREFIX: SPILO('the path in the store prefix'),
  WAL_BUCKET_SCOPE_SUFFIX: SPILO('the path in the store prefix'),
  WALE_S3_ENDPOINT: "WAL-E's form of the endpoint (Spilo writes it beside AWS_ENDPOINT); walship reads AWS_ENDPOINT only, so set that",
  WALE_LOG_DESTINATION: 'walship logs JSON lines to stderr',
  WALE_DISABLE_S3_SSE: 'a Spilo setting: walship asks for server-side encryption only when S3_SSE (WALG_S3_SSE) is set',
  WALG_BACKUP_COMPRESSION_METHOD: SPILO('WALG_COMPRESSION_METHOD, for WAL and backups alike'),
  WALG_BACKUP_FROM_REPLICA: 'a Spilo setting: walship backs up the server it runs beside',
  WALE_BACKUP_THRESHOLD_MEGABYTES: 'a Spilo setting for choosing a fresh base backup over WAL replay when a replica is built; walship does not make that choice',
  WALE_BACKUP_THRESHOLD_PERCENTAGE: 'a Spilo setting for choosing a fresh base backup over WAL replay when a replica is built; walship does not make that choice',
};

/** Whole families, ignored by their prefix. */
export const IGNORED_WALG_PREFIXES: Readonly<Record<string, string>> = {
  CLONE_: CLONE,
  WALG_MYSQL_: OTHER_DB,
  WALG_REDIS_: OTHER_DB,
  WALG_GP_: OTHER_DB,
  WALG_ETCD_: OTHER_DB,
  WALG_STREAM_SPLITTER_: OTHER_DB,
  MONGODB_: OTHER_DB,
  OPLOG_: OTHER_DB,
  SQLSERVER_: OTHER_DB,
  WALG_FAILOVER_STORAGES_CACHE_: NOT_STORE('WALG_FAILOVER_STORAGES'),
  OSS_: NOT_STORE('WALG_OSS_PREFIX'),
};

/** Refused: ignoring them would lose data, protection, or the right store; each says what to do instead. */
export const UNSUPPORTED_WALG_SETTINGS: Readonly<Record<string, string>> = {
  WALG_SWIFT_PREFIX: 'OpenStack Swift is not a supported store; use S3, GCS, Azure or a filesystem',
  WALG_SSH_PREFIX: 'SSH is not a supported store; mount the directory and use WALG_FILE_PREFIX',
  WALG_OSS_PREFIX: 'Alibaba OSS is not a supported store; use its S3-compatible endpoint with WALG_S3_PREFIX and AWS_ENDPOINT',
  WALG_FAILOVER_STORAGES: 'failover storages are not supported; configure one store, and replicate it with the store\'s own tools',
  WALG_LIBSODIUM_KEY: 'libsodium encryption is not supported; use WALG_PGP_KEY',
  WALG_LIBSODIUM_KEY_PATH: 'libsodium encryption is not supported; use WALG_PGP_KEY_PATH',
  WALG_LIBSODIUM_KEY_TRANSFORM: 'libsodium encryption is not supported; use WALG_PGP_KEY',
  WALG_GPG_KEY_ID: 'encryption through an external gpg keyring is not supported; use WALG_PGP_KEY',
  WALE_GPG_KEY_ID: 'encryption through an external gpg keyring is not supported; use WALG_PGP_KEY',
  WALG_ENVELOPE_PGP_KEY: 'envelope encryption is not supported; use WALG_PGP_KEY',
  WALG_ENVELOPE_PGP_KEY_PATH: 'envelope encryption is not supported; use WALG_PGP_KEY_PATH',
  WALG_ENVELOPE_PGP_YC_CSE_KMS_KEY_ID: 'envelope encryption is not supported; use WALG_PGP_KEY',
  WALG_ENVELOPE_PGP_YC_SERVICE_ACCOUNT_KEY_FILE: 'envelope encryption is not supported; use WALG_PGP_KEY',
  WALG_ENVELOPE_PGP_YC_ENDPOINT: 'envelope encryption is not supported; use WALG_PGP_KEY',
  WALG_CSE_KMS_ID: 'client-side KMS encryption is not supported; use WALG_PGP_KEY or S3_SSE=aws:kms',
  WALG_CSE_KMS_REGION: 'client-side KMS encryption is not supported; use WALG_PGP_KEY or S3_SSE=aws:kms',
  YC_CSE_KMS_KEY_ID: 'Yandex Cloud KMS encryption is not supported; use WALG_PGP_KEY',
  WALG_FETCH_TARGET_USER_DATA: 'choosing a backup by its user data is not supported; name the backup to backup-fetch',
  S3_SSE_C: "customer-provided S3 keys (SSE-C) are not supported yet: walship could not read such objects back; use S3_SSE=aws:kms or WALG_PGP_KEY",
  S3_ENDPOINT_SOURCE: 'set the endpoint itself in AWS_ENDPOINT',
  S3_ENDPOINT_PORT: 'set the endpoint, port included, in AWS_ENDPOINT',
  S3_USE_YC_SESSION_TOKEN: 'Yandex Cloud session tokens are not supported; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
  S3_REQUEST_ADDITIONAL_HEADERS: 'extra request headers are not supported; a store that needs them is not supported',
  S3_RETENTION_PERIOD: 'S3 Object Lock retention is not set by walship; set a default retention on the bucket instead',
  S3_RETENTION_MODE: 'S3 Object Lock retention is not set by walship; set a default retention on the bucket instead',
  GCS_ENCRYPTION_KEY: 'customer-supplied GCS keys are not supported yet: walship could not read such objects back; use a bucket default KMS key or WALG_PGP_KEY',
  AZURE_ENVIRONMENT_NAME: 'set WALSHIP_AZ_ENDPOINT to the blob endpoint of your Azure cloud instead',
  AZURE_ENDPOINT_SUFFIX: 'set WALSHIP_AZ_ENDPOINT to the blob endpoint of your Azure cloud instead',
};

/**
 * WAL-G's storage adapters take each of their settings as is, and with
 * WALG_ and WALE_ in front: the S3_, GCS_ and AZURE_ names here answer to
 * all three.
 */
export function storageAliases(name: string): string[] {
  return /^(S3|GCS|AZURE)_/.test(name) ? [`WALG_${name}`, `WALE_${name}`] : [];
}

const expand = (table: Readonly<Record<string, string>>): ReadonlyMap<string, string> =>
  new Map(Object.entries(table).flatMap(([name, why]) => [name, ...storageAliases(name)].map((n) => [n, why] as const)));
const ignored = expand(IGNORED_WALG_SETTINGS);
const refused = expand(UNSUPPORTED_WALG_SETTINGS);

export type WalgClass = { kind: 'ignored'; why: string } | { kind: 'refused'; why: string };

/** What walship does with a variable it does not implement; undefined when it is no WAL-G or Spilo variable. */
export function classifyWalgName(name: string): WalgClass | undefined {
  const refusal = refused.get(name);
  if (refusal !== undefined) return { kind: 'refused', why: refusal };
  const reason = ignored.get(name) ?? Object.entries(IGNORED_WALG_PREFIXES).find(([prefix]) => name.startsWith(prefix))?.[1];
  return reason === undefined ? undefined : { kind: 'ignored', why: reason };
}
