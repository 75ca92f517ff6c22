import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobFile } from './gcs-blob-file.ts';
import { GcsApiError, badRequest, noSuchBucket, noSuchObject, preconditionFailed } from './gcs-errors.ts';

// The test server's state: an in-memory index of buckets and objects whose
// bodies are files on disk. Every check-then-write happens in one
// synchronous step, so preconditions are atomic the way GCS's are, however
// many uploads race.

export interface StoredObject {
  bucket: string;
  name: string;
  generation: number;
  metageneration: number;
  size: number;
  md5Hash: string;
  crc32c: string;
  contentType: string;
  metadata?: Record<string, string>;
  timeCreated: Date;
  updated: Date;
  blobPath: string;
}

/** What an upload says about the object besides its bytes. */
export interface ObjectFields {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Hashes the client sent: the upload fails, storing nothing, if the bytes do not match. */
  md5Hash?: string;
  crc32c?: string;
}

export interface Preconditions {
  ifGenerationMatch?: number;
  ifGenerationNotMatch?: number;
  ifMetagenerationMatch?: number;
  ifMetagenerationNotMatch?: number;
}

export interface ListQuery {
  prefix: string;
  delimiter?: string;
  maxResults: number;
  pageToken?: string;
  startOffset?: string;
  endOffset?: string;
}

export interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  fields: ObjectFields;
  preconditions: Preconditions;
  blob: BlobFile;
  /** Declared total size, once the client has said it. */
  total?: number;
  busy: boolean;
  result?: StoredObject;
}

const MAX_PAGE = 1000;

export class GcsStore {
  private readonly dir: string;
  private readonly buckets = new Map<string, { created: Date; objects: Map<string, StoredObject>; sorted?: string[] }>();
  private readonly sessions = new Map<string, UploadSession>();
  private lastGeneration = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs'), { recursive: true });
  }

  createBucket(name: string): Date {
    if (this.buckets.has(name)) throw new GcsApiError(409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
    const created = new Date();
    this.buckets.set(name, { created, objects: new Map() });
    return created;
  }

  bucketCreated(name: string): Date {
    return this.bucket(name).created;
  }

  /** A new, empty body file for an upload to fill. */
  newBlob(): BlobFile {
    return new BlobFile(join(this.dir, 'blobs', randomUUID()));
  }

  async discard(blob: BlobFile): Promise<void> {
    await rm(blob.path, { force: true });
  }

  /** Fails early, before a body is read, as GCS does; commit() checks again atomically. */
  check(bucket: string, name: string, pre: Preconditions): void {
    checkPreconditions(this.bucket(bucket).objects.get(name), pre);
  }

  /** Makes the blob the object's newest generation, if the preconditions still hold. */
  commit(bucket: string, name: string, blob: BlobFile, fields: ObjectFields, pre: Preconditions): StoredObject {
    const b = this.bucket(bucket);
    const previous = b.objects.get(name);
    checkPreconditions(previous, pre);
    const digests = blob.digests();
    if (fields.md5Hash !== undefined && fields.md5Hash !== digests.md5Hash) {
      throw badRequest(`Provided MD5 hash "${fields.md5Hash}" doesn't match calculated MD5 hash "${digests.md5Hash}".`);
    }
    if (fields.crc32c !== undefined && fields.crc32c !== digests.crc32c) {
      throw badRequest(`Provided CRC32C "${fields.crc32c}" doesn't match calculated CRC32C "${digests.crc32c}".`);
    }
    const now = new Date();
    const object: StoredObject = {
      bucket,
      name,
      generation: this.nextGeneration(),
      metageneration: 1,
      size: blob.size,
      ...digests,
      contentType: fields.contentType ?? 'application/octet-stream',
      ...(fields.metadata ? { metadata: fields.metadata } : {}),
      timeCreated: now,
      updated: now,
      blobPath: blob.path,
    };
    b.objects.set(name, object);
    if (!previous) b.sorted = undefined;
    // Readers of the old generation hold the file open, so unlinking it now is safe.
    if (previous) void rm(previous.blobPath, { force: true });
    return object;
  }

  get(bucket: string, name: string, generation?: number): StoredObject {
    const object = this.bucket(bucket).objects.get(name);
    if (!object || (generation !== undefined && object.generation !== generation)) throw noSuchObject(bucket, name);
    return object;
  }

  delete(bucket: string, name: string, pre: Preconditions, generation?: number): void {
    const b = this.bucket(bucket);
    const object = this.get(bucket, name, generation);
    checkPreconditions(object, pre);
    b.objects.delete(name);
    b.sorted = undefined;
    void rm(object.blobPath, { force: true });
  }

  list(bucket: string, q: ListQuery): { items: StoredObject[]; prefixes: string[]; nextPageToken?: string } {
    const b = this.bucket(bucket);
    b.sorted ??= [...b.objects.keys()].sort();
    const names = b.sorted;
    const after = q.pageToken === undefined ? undefined : decodePageToken(q.pageToken);
    const max = Math.min(Math.max(q.maxResults, 1), MAX_PAGE);
    const items: StoredObject[] = [];
    const prefixes: string[] = [];
    let last: string | undefined;
    let i = lowerBound(names, [q.prefix, q.startOffset ?? ''].reduce((a, c) => (c > a ? c : a)));
    for (; i < names.length; i++) {
      const name = names[i]!;
      if (!name.startsWith(q.prefix)) break;
      if (q.endOffset !== undefined && name >= q.endOffset) break;
      if (after !== undefined && name <= after) continue;
      if (items.length + prefixes.length === max) break;
      const cut = q.delimiter ? name.indexOf(q.delimiter, q.prefix.length) : -1;
      if (cut >= 0) {
        const common = name.slice(0, cut + q.delimiter!.length);
        prefixes.push(common);
        // The page token of a collapsed prefix skips every name under it.
        last = common + '\u{10FFFF}';
        while (i + 1 < names.length && names[i + 1]!.startsWith(common)) i++;
      } else {
        items.push(b.objects.get(name)!);
        last = name;
      }
    }
    const more = i < names.length && names[i]!.startsWith(q.prefix) && (q.endOffset === undefined || names[i]! < q.endOffset);
    return { items, prefixes, ...(more && last !== undefined ? { nextPageToken: encodePageToken(last) } : {}) };
  }

  createSession(bucket: string, name: string, fields: ObjectFields, pre: Preconditions, total?: number): UploadSession {
    this.check(bucket, name, pre);
    const session: UploadSession = {
      id: randomUUID().replaceAll('-', ''),
      bucket,
      name,
      fields,
      preconditions: pre,
      blob: this.newBlob(),
      ...(total === undefined ? {} : { total }),
      busy: false,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  session(id: string): UploadSession {
    const session = this.sessions.get(id);
    if (!session) throw new GcsApiError(404, 'notFound', 'No such upload session.');
    return session;
  }

  async cancelSession(id: string): Promise<void> {
    const session = this.session(id);
    this.sessions.delete(id);
    if (!session.result) await this.discard(session.blob);
  }

  private bucket(name: string) {
    const b = this.buckets.get(name);
    if (!b) throw noSuchBucket();
    return b;
  }

  /** Generations are microsecond timestamps, like GCS's, and strictly increase. */
  private nextGeneration(): number {
    this.lastGeneration = Math.max(Date.now() * 1000, this.lastGeneration + 1);
    return this.lastGeneration;
  }
}

function checkPreconditions(object: StoredObject | undefined, pre: Preconditions): void {
  const generation = object?.generation ?? 0;
  if (pre.ifGenerationMatch !== undefined && pre.ifGenerationMatch !== generation) throw preconditionFailed();
  if (pre.ifGenerationNotMatch !== undefined && pre.ifGenerationNotMatch === generation) throw preconditionFailed();
  if (pre.ifMetagenerationMatch !== undefined && pre.ifMetagenerationMatch !== object?.metageneration) throw preconditionFailed();
  if (pre.ifMetagenerationNotMatch !== undefined && pre.ifMetagenerationNotMatch === object?.metageneration) throw preconditionFailed();
}

function lowerBound(sorted: string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const encodePageToken = (name: string) => Buffer.from(name).toString('base64url');

function decodePageToken(token: string): string {
  const name = Buffer.from(token, 'base64url').toString();
  if (encodePageToken(name) !== token) throw new GcsApiError(400, 'invalid', 'Invalid page token.');
  return name;
}
