import type { Readable } from 'node:stream';

// The one interface every store implements. Drivers stay thin: timeouts,
// retries and metrics are wrapped around them (see resilient.ts), never
// copied into each driver.

export type StoreKind = 'fs' | 's3' | 'gcs' | 'azure';

/** User metadata: lower-case ASCII keys, short ASCII values. */
export type ObjectMetadata = Record<string, string>;

export interface ObjectInfo {
  /** Key relative to the store's prefix, '/'-separated, never starting with '/'. */
  key: string;
  size: number;
  lastModified: Date;
  /** Present from stat() and get(); list() may omit it. */
  metadata?: ObjectMetadata;
}

/**
 * Creates the body afresh each time it is called, so that a failed attempt
 * can be retried from the start. A stream can only be read once.
 */
export type BodySource = () => Readable;

export interface PutOptions {
  metadata?: ObjectMetadata;
  /** Known length in bytes, when the caller has it: lets drivers skip multipart for small bodies. */
  contentLength?: number;
  signal?: AbortSignal;
  /**
   * Called by the driver whenever the store has accepted more of the body
   * (a part stored) or the upload moves to its final request: lets the
   * caller's idle deadline see progress that happens after the body was read.
   */
  onProgress?: () => void;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. Omitted: to the end of the object. */
  end?: number;
}

export interface GetOptions {
  range?: ByteRange;
  signal?: AbortSignal;
}

export interface GetResult {
  body: Readable;
  info: ObjectInfo;
}

export interface ListOptions {
  /** Continuation token from the previous page. */
  token?: string;
  /** Maximum keys on this page; drivers may return fewer. */
  pageSize?: number;
  /**
   * Only keys that sort after this one (a full key, not relative to the
   * prefix), so that a caller looking for what follows a key reads one page
   * rather than the listing from its start. Ignored with a token.
   */
  startAfter?: string;
  signal?: AbortSignal;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Absent on the last page. */
  nextToken?: string;
}

export interface SignalOptions {
  signal?: AbortSignal;
}

export interface StorageDriver {
  readonly kind: StoreKind;
  /** Printable location, e.g. s3://bucket/prefix. Never holds a secret. */
  readonly location: string;

  /** Stores the body under key, replacing any object there. Resolves once durably stored. */
  put(key: string, body: BodySource, options?: PutOptions): Promise<void>;

  /**
   * Stores the body only if no object exists under key, atomically where
   * the store allows it. Resolves true if written, false if one existed.
   */
  putIfAbsent(key: string, body: BodySource, options?: PutOptions): Promise<boolean>;

  /** Throws STORE_NOT_FOUND if the key does not exist. */
  get(key: string, options?: GetOptions): Promise<GetResult>;

  /** Resolves undefined if the key does not exist. */
  stat(key: string, options?: SignalOptions): Promise<ObjectInfo | undefined>;

  /** One page of the keys starting with prefix, in lexical order. */
  listPage(prefix: string, options?: ListOptions): Promise<ListPage>;

  /** Deletes the keys; keys that do not exist are not an error. */
  deleteMany(keys: readonly string[], options?: SignalOptions): Promise<void>;

  /** Releases sockets and other resources. */
  close(): Promise<void>;
}
