// The typed configuration, parsed once (see load.ts) and passed down.
// Nothing below the CLI layer reads process.env.

export type CompressionMethod = 'lz4' | 'zstd' | 'brotli' | 'gzip' | 'none';

export interface FsStoreConfig {
  kind: 'fs';
  /** Absolute directory that holds the archive. */
  root: string;
}

export interface S3StoreConfig {
  kind: 's3';
  bucket: string;
  /** Key prefix inside the bucket, '' or ending without a slash. */
  prefix: string;
  /** Unset: asked of the bucket once, when the driver is made (region.ts). */
  region?: string;
  endpoint?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  storageClass?: string;
  /** Server-side encryption: 'AES256' or 'aws:kms'. */
  sse?: string;
  sseKmsKeyId?: string;
  caCertFile?: string;
  /**
   * 'when_supported' (the SDK default) adds flexible checksums to every
   * request; some S3-compatible stores mishandle them, so 'when_required'
   * turns them off.
   */
  checksums: 'when_supported' | 'when_required';
}

export interface GcsStoreConfig {
  kind: 'gcs';
  bucket: string;
  prefix: string;
  /** Path to a service-account JSON file (GOOGLE_APPLICATION_CREDENTIALS). */
  credentialsFile?: string;
  /** Emulator or private endpoint, e.g. http://127.0.0.1:4443 (STORAGE_EMULATOR_HOST). */
  endpoint?: string;
}

export interface AzureStoreConfig {
  kind: 'azure';
  container: string;
  prefix: string;
  account?: string;
  accessKey?: string;
  sasToken?: string;
  connectionString?: string;
  /** Blob service URL, e.g. http://127.0.0.1:10000/devstoreaccount1. Defaults to https://<account>.blob.core.windows.net. */
  endpoint?: string;
}

export type StoreConfig = FsStoreConfig | S3StoreConfig | GcsStoreConfig | AzureStoreConfig;

/** How storage calls are bounded: every call has a deadline, and retries are finite. */
export interface TransferConfig {
  /** Deadline for calls that move no body: stat, list, delete, and the first byte of a get. */
  requestTimeoutMs: number;
  /** A body transfer that makes no progress for this long is aborted. */
  idleTimeoutMs: number;
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** Backoff before retry n is min(maxBackoffMs, baseBackoffMs * 2^(n-1)), with full jitter. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  uploadConcurrency: number;
  downloadConcurrency: number;
}

export interface PgpConfig {
  /** Armored key: a public key suffices to encrypt; decrypting needs the private key. */
  armoredKey: string;
  passphrase?: string;
}

export interface CodecConfig {
  compression: CompressionMethod;
  /** zstd level for compression=zstd (WALG_ZSTD_LEVEL); 1 when unset. */
  zstdLevel?: number;
  pgp?: PgpConfig;
}

export interface PgConnectionConfig {
  host?: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
  /** The data directory, when known. */
  pgdata?: string;
}

export interface Config {
  /** Absent when no store variable is set; commands that need one say so. */
  store?: StoreConfig;
  codec: CodecConfig;
  transfer: TransferConfig;
  pg: PgConnectionConfig;
  wal: {
    preventOverwrite: boolean;
    deltaMaxSteps: number;
    /** WALSHIP_FETCH_HOLE: a segment missing from the middle of the archive stops recovery ('fail') or ends it ('end'). */
    fetchHole: 'fail' | 'end';
    /** Overall deadline of one wal-push, retries included. */
    pushTimeoutMs: number;
    /** Overall deadline of one wal-fetch, retries included. */
    fetchTimeoutMs: number;
  };
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  agent: { spoolDir: string; uploadAhead: boolean; followWal: boolean; httpAddress: string; shutdownGraceMs: number; healthIntervalMs: number; catalogIntervalMs: number;
    /** WALSHIP_CHECK_WAL_TIMEOUT: how long walship check waits for a switched segment to reach the store. */
    checkWalTimeoutMs: number;
    /** WALSHIP_WAL_VERIFY_INTERVAL: the agent's periodic wal-verify; 0 for never. */
    walVerifyIntervalMs: number;
  };
  backup: { partBytes: number; walTimeoutMs: number; schedule: string };
  /** Restore drills (WALSHIP_DRILL_*, WALSHIP_PGBIN). */
  drill: {
    schedule: string;
    /** 0: no budget beyond the scratch filesystem's free space. */
    diskBudgetBytes: number;
    dir?: string;
    user: string;
    timeoutMs: number;
    pgBin?: string;
  };
  /** Automatic retention after each backup (WALSHIP_RETENTION_*): a backup either rule keeps is kept. */
  retention: {
    /** Keep this many newest backups; 0: no count rule. */
    full: number;
    /** Keep every backup needed to recover to any point of this last period. */
    windowMs?: number;
  };
}
