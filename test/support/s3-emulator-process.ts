// The S3 emulator's own process: s3rver with five fixes that make it behave
// like S3 where walship depends on it, plus outages on demand. Run by s3rver.ts with --openssl-legacy-provider
// (s3rver's paginated listing needs it); never imported by tests, so its
// memory does not count against the test process's RSS budget.
//
// Messages: this process sends {port} once listening; the parent sends
// {id, outage: boolean} to start or end an outage, answered with {id}. It
// exits when the IPC channel closes, so a crashed test run leaves no orphan.

import { createHash, createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

const require = createRequire(import.meta.url);

interface Ctx {
  req: IncomingMessage;
  method: string;
  url: string;
  params: { bucket?: string; key?: string };
  store: { existsObject(bucket: string, key: string): Promise<boolean> };
  get(header: string): string;
}
type Handler = (ctx: Ctx) => Promise<unknown>;
type Middleware = (ctx: Ctx, next: () => Promise<unknown>) => Promise<unknown>;

const S3Error = require('s3rver/lib/models/error.js') as new (code: string, message: string, detail?: object) => Error;
const objectController = require('s3rver/lib/controllers/object.js') as Record<string, Handler>;
interface StoredObject {
  content: Readable | null;
  range?: { start: number; end: number };
}
const FilesystemStore = require('s3rver/lib/stores/filesystem.js') as {
  prototype: {
    deleteObject(bucket: string, key: string): Promise<void>;
    getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<StoredObject | null>;
    getResourcePath(bucket: string, key: string | undefined, kind: string): string;
    putMetadata(bucket: string, key: string, metadata: object, md5: string): Promise<void>;
    putObjectMultipart(bucket: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<{ md5: string; size: number }>;
  };
};
const S3rver = require('s3rver') as new (options: object) => {
  middleware: Middleware[];
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
};

const [directory, bucket, accessKeyId, secretAccessKey] = process.argv.slice(2);
if (!directory || !bucket || !accessKeyId || !secretAccessKey) throw new Error('usage: s3-emulator-process DIR BUCKET KEY SECRET');

// 1. Conditional writes. s3rver 3.7 ignores If-None-Match, which real S3
// honours on PutObject and CompleteMultipartUpload since 2024. Every write to a
// key is serialised, and a conditional one answers 412 if the object exists,
// so the contract's put-if-absent race exercises the driver, not the emulator.
// Serialising plain writes too also stops s3rver interleaving two bodies in one file.
const keyLocks = new Map<string, Promise<void>>();

async function withKeyLock<T>(id: string, work: () => Promise<T>): Promise<T> {
  const previous = keyLocks.get(id) ?? Promise.resolve();
  let release!: () => void;
  const mine = previous.then(() => new Promise<void>((r) => (release = r)));
  keyLocks.set(id, mine);
  await previous;
  try {
    return await work();
  } finally {
    release();
    if (keyLocks.get(id) === mine) keyLocks.delete(id);
  }
}

function conditionalWrite(write: Handler): Handler {
  return (ctx) =>
    withKeyLock(`${ctx.params.bucket}/${ctx.params.key}`, async () => {
      if (ctx.get('if-none-match') === '*' && (await ctx.store.existsObject(ctx.params.bucket!, ctx.params.key!))) {
        if (!ctx.req.readableEnded) {
          ctx.req.resume();
          await once(ctx.req, 'end');
        }
        throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
          Condition: 'If-None-Match',
        });
      }
      return write(ctx);
    });
}

for (const name of ['putObject', 'completeMultipartUpload'] as const) {
  objectController[name] = conditionalWrite(objectController[name]!);
}

// 2. DeleteObjects deletes its keys in parallel, and each deletion removes
// parent directories that look empty: two deletions in one directory race and
// one fails with ENOENT, turning the whole request into a 500. The objects are
// gone by then, so the directory clean-up failing is not an error.
const deleteObject = FilesystemStore.prototype.deleteObject;
FilesystemStore.prototype.deleteObject = async function (this: unknown, b: string, key: string) {
  try {
    await deleteObject.call(this, b, key);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err;
  }
};

// 3. Ranges. s3rver reads `options.end || Infinity`, so "bytes=0-0" (the
// first byte) returns the whole object under a 206.
const getObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.getObject = async function (this: typeof FilesystemStore.prototype, b, key, options) {
  const object = await getObject.call(this, b, key, options);
  if (options?.end === 0 && object?.content && object.range?.start === 0) {
    object.content.destroy();
    object.content = createReadStream(this.getResourcePath(b, key, 'object'), { start: 0, end: 0 });
    object.range = { start: 0, end: 0 };
  }
  return object;
};

// 4. Completing a multipart upload. s3rver streams every part through MD5
// into the final file with fresh 64 KiB buffers: 1 GiB took 3-6 s here,
// longer than a test's idle deadline, and its ETag is not in S3's form. S3
// computes a multipart ETag from the parts' MD5s without rehashing the data;
// do the same, copy through one buffer per upload (fresh memory is slow to
// fault in on this VM; uploads of different keys complete concurrently, so
// they cannot share one), and publish with a rename so the object appears whole.
const COPY_BUFFER_BYTES = 4 * 1024 * 1024;
FilesystemStore.prototype.putObjectMultipart = async function (this: typeof FilesystemStore.prototype, b, uploadId, parts) {
  const copyBuffer = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
  const uploadDir = join(this.getResourcePath(b, undefined, 'uploads'), uploadId);
  const key = await readFile(join(uploadDir, 'key'), 'utf8');
  const metadata = JSON.parse(await readFile(join(uploadDir, 'metadata'), 'utf8')) as object;
  const ordered = [...parts].sort((x, y) => x.number - y.number);
  const assembled = join(uploadDir, 'assembled');
  const out = await open(assembled, 'w');
  let size = 0;
  try {
    for (const part of ordered) {
      const input = await open(join(uploadDir, String(part.number)));
      try {
        for (let n; (n = (await input.read(copyBuffer, 0, copyBuffer.length, null)).bytesRead) > 0; size += n) {
          await out.write(copyBuffer, 0, n);
        }
      } finally {
        await input.close();
      }
    }
  } finally {
    await out.close();
  }
  const objectPath = this.getResourcePath(b, key, 'object');
  await mkdir(dirname(objectPath), { recursive: true });
  await rename(assembled, objectPath);
  const md5 = `${createHash('md5').update(Buffer.concat(ordered.map((p) => Buffer.from(p.etag, 'hex')))).digest('hex')}-${ordered.length}`;
  await this.putMetadata(b, key, metadata, md5);
  await rm(uploadDir, { recursive: true, force: true });
  return { md5, size };
};

// 5. Signatures. s3rver checks only that the access key id exists and accepts
// any SigV4 signature, so a wrong secret would pass unnoticed. Re-sign each
// request with the real secret and compare, as S3 does.
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData) =>
  typeof d === 'string' ? d : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d);

class Sha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

function parseAuthorization(header: string) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(header);
  return m && { accessKeyId: m[1]!, region: m[3]!, service: m[4]!, signedHeaders: m[5]!.split(';'), signature: m[6]! };
}

function signingDate(amzDate: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!m) return new Date(NaN);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

const verifySignature: Middleware = async (ctx, next) => {
  const auth = parseAuthorization(ctx.get('authorization'));
  if (!auth || auth.accessKeyId !== accessKeyId) return next(); // s3rver answers unknown keys itself
  const [path = '/', rawQuery = ''] = ctx.req.url!.split('?', 2);
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) query[k] = v;
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) headers[name] = ctx.get(name);
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region: auth.region,
    service: auth.service,
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const [hostname = '', port] = headers.host?.split(':') ?? [];
  const signed = await signer.sign(
    { method: ctx.method, protocol: 'http:', hostname, ...(port ? { port: Number(port) } : {}), path, query, headers },
    { signingDate: signingDate(ctx.get('x-amz-date')) },
  );
  const expected = parseAuthorization(String(signed.headers['authorization']))?.signature;
  if (expected !== auth.signature) {
    if (!ctx.req.readableEnded) ctx.req.resume();
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: auth.accessKeyId,
    });
  }
  return next();
};

// 6. Outages. While one lasts every request gets 503 ServiceUnavailable, as
// from S3 during an incident: tests see the store fail, then come back.
let outage = false;
const outageAnswer: Middleware = async (ctx, next) => {
  if (!outage) return next();
  if (!ctx.req.readableEnded) ctx.req.resume();
  throw new S3Error('ServiceUnavailable', 'Please reduce your request rate.');
};
process.on('message', (m: { id?: number; outage?: boolean }) => {
  if (typeof m.outage === 'boolean') outage = m.outage;
  process.send?.({ id: m.id });
});

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
});
// Before the router (the last middleware), after s3rver's logging and error rendering.
server.middleware.splice(server.middleware.length - 1, 0, outageAnswer, verifySignature);

const { port } = await server.run();
process.send?.({ port });
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0));
});
