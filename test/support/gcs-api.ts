import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { GcsAuthenticator } from './gcs-auth.ts';
import type { BlobFile } from './gcs-blob-file.ts';
import { batch } from './gcs-batch.ts';
import { GcsApiError, badRequest, noSuchObject, sendError, sendJson } from './gcs-errors.ts';
import { boundaryOf, readRelated } from './gcs-multipart.ts';
import { intParam, preconditions, requireName } from './gcs-query.ts';
import { bucketResource, etag, resource } from './gcs-resource.ts';
import type { GcsStore, ObjectFields, StoredObject, UploadSession } from './gcs-store.ts';

// The HTTP face of the test server: the subset of the GCS JSON API that
// @google-cloud/storage v7 and walship's own JSON API client speak, with
// Google's status codes, headers and error shapes. Bodies stream to and
// from disk.

type Query = URLSearchParams;

export function createGcsHandler(store: GcsStore, auth?: GcsAuthenticator) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    route(store, auth, req, res).catch((err: unknown) => {
      if (res.headersSent || req.socket.destroyed) {
        res.destroy();
        return;
      }
      // Node reads and discards whatever of the request body is left, so a
      // client still sending gets this answer rather than a reset.
      if (err instanceof GcsApiError) sendError(res, err);
      else sendError(res, new GcsApiError(500, 'backendError', err instanceof Error ? err.message : String(err)));
    });
  };
}

async function route(store: GcsStore, auth: GcsAuthenticator | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://gcs.test');
  const path = url.pathname.split('/').slice(1).map(decodeURIComponent);
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  const origin = `http://${req.headers.host ?? 'localhost'}`;

  if (method === 'POST' && path.length === 1 && path[0] === 'token') return token(auth, req, res);
  if (auth) {
    const check = auth.check(req.headers.authorization);
    if (check !== 'ok') {
      throw new GcsApiError(
        401,
        check === 'missing' ? 'required' : 'authError',
        check === 'missing' ? 'Anonymous caller does not have storage.objects.get access.' : 'Invalid Credentials',
      );
    }
  }

  const [api, ...rest] = path;
  if (method === 'POST' && path.join('/') === 'batch/storage/v1') return batch(store, req, res, origin);
  if (api === 'storage' && rest[0] === 'v1' && rest[1] === 'b') return json(store, rest.slice(2), method, q, req, res, origin);
  if (api === 'download' && rest.join('/').startsWith('storage/v1/b/') && method === 'GET') {
    const [bucket, o, ...name] = rest.slice(3);
    if (bucket !== undefined && o === 'o' && name.length > 0) return download(store, bucket, name.join('/'), q, req, res);
  }
  if (api === 'upload' && rest[0] === 'storage' && rest[1] === 'v1' && rest[2] === 'b' && rest[4] === 'o' && rest.length === 5) {
    return upload(store, rest[3]!, method, q, req, res, origin);
  }
  throw new GcsApiError(404, 'notFound', `Not Found: ${method} ${url.pathname}`);
}

async function json(store: GcsStore, path: string[], method: string, q: Query, req: IncomingMessage, res: ServerResponse, origin: string) {
  const [bucket, o, ...name] = path;
  if (bucket === undefined) {
    if (method !== 'POST') throw new GcsApiError(405, 'invalid', 'Listing buckets is not supported here.');
    const body = (await readJson(req)) as { name?: string };
    if (!body.name) throw badRequest('Missing bucket name.');
    const created = store.createBucket(body.name);
    return sendJson(res, 200, bucketResource(body.name, created, origin));
  }
  if (o === undefined && method === 'GET') return sendJson(res, 200, bucketResource(bucket, store.bucketCreated(bucket), origin));
  if (o === 'o' && name.length === 0 && method === 'GET') return list(store, bucket, q, res, origin);
  if (o === 'o' && name.length > 0) {
    const objectName = name.join('/');
    const generation = intParam(q, 'generation');
    if (method === 'GET') {
      if (q.get('alt') === 'media') return download(store, bucket, objectName, q, req, res);
      const object = store.get(bucket, objectName, generation);
      store.check(bucket, objectName, preconditions(q));
      return sendJson(res, 200, resource(object, origin));
    }
    if (method === 'DELETE') {
      store.delete(bucket, objectName, preconditions(q), generation);
      res.writeHead(204).end();
      return;
    }
  }
  throw new GcsApiError(405, 'invalid', `Unsupported: ${method} ${path.join('/')}`);
}

function list(store: GcsStore, bucket: string, q: Query, res: ServerResponse, origin: string) {
  const delimiter = q.get('delimiter') || undefined;
  const pageToken = q.get('pageToken') || undefined;
  const startOffset = q.get('startOffset') || undefined;
  const endOffset = q.get('endOffset') || undefined;
  const page = store.list(bucket, {
    prefix: q.get('prefix') ?? '',
    maxResults: intParam(q, 'maxResults') ?? 1000,
    ...(delimiter ? { delimiter } : {}),
    ...(pageToken ? { pageToken } : {}),
    ...(startOffset ? { startOffset } : {}),
    ...(endOffset ? { endOffset } : {}),
  });
  sendJson(res, 200, {
    kind: 'storage#objects',
    ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    ...(page.prefixes.length > 0 ? { prefixes: page.prefixes } : {}),
    ...(page.items.length > 0 ? { items: page.items.map((o) => resource(o, origin)) } : {}),
  });
}

async function download(store: GcsStore, bucket: string, name: string, q: Query, req: IncomingMessage, res: ServerResponse) {
  const object = store.get(bucket, name, intParam(q, 'generation'));
  store.check(bucket, name, preconditions(q));
  const range = parseRange(req.headers.range, object.size);
  let handle;
  try {
    handle = await open(object.blobPath, 'r');
  } catch {
    // Replaced or deleted between the lookup and the open.
    throw noSuchObject(bucket, name);
  }
  const headers: Record<string, string | number> = {
    'Content-Type': object.contentType,
    'Accept-Ranges': 'bytes',
    ETag: etag(object),
    'Last-Modified': object.updated.toUTCString(),
    'x-goog-generation': object.generation,
    'x-goog-metageneration': object.metageneration,
    'x-goog-stored-content-encoding': 'identity',
    'x-goog-stored-content-length': object.size,
    'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
  };
  if (range === undefined) {
    res.writeHead(200, { ...headers, 'Content-Length': object.size });
  } else {
    res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${object.size}` });
  }
  const length = range ? range.end - range.start + 1 : object.size;
  if (length === 0) {
    await handle.close();
    res.end();
    return;
  }
  const body = handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  await pipeline(body, res);
}

async function upload(store: GcsStore, bucket: string, method: string, q: Query, req: IncomingMessage, res: ServerResponse, origin: string) {
  const uploadId = q.get('upload_id');
  if (uploadId !== null) {
    if (method === 'PUT') return resumableChunk(store, store.session(uploadId), req, res, origin);
    if (method === 'DELETE') {
      await store.cancelSession(uploadId);
      res.writeHead(499).end();
      return;
    }
  }
  if (method !== 'POST') throw new GcsApiError(405, 'invalid', `Unsupported: ${method} upload`);
  const pre = preconditions(q);
  switch (q.get('uploadType')) {
    case 'media': {
      const name = requireName(q.get('name'));
      store.check(bucket, name, pre);
      const contentType = req.headers['content-type'];
      const object = await writeBlob(store, async (sink) => void (await pipeline(req, sink)), (blob) =>
        store.commit(bucket, name, blob, contentType ? { contentType } : {}, pre),
      );
      return sendJson(res, 200, resource(object, origin));
    }
    case 'multipart': {
      let name = '';
      let fields: ObjectFields = {};
      const object = await writeBlob(
        store,
        async (sink) => {
          const parsed = await readRelated(req, boundaryOf(req.headers['content-type']), async (json) => {
            name = requireName(q.get('name') ?? (typeof json.name === 'string' ? json.name : null));
            fields = objectFields(json);
            store.check(bucket, name, pre);
            return sink;
          });
          if (!fields.contentType && parsed.mediaType) fields = { ...fields, contentType: parsed.mediaType };
        },
        (blob) => store.commit(bucket, name, blob, fields, pre),
      );
      return sendJson(res, 200, resource(object, origin));
    }
    case 'resumable': {
      const json = await readJson(req);
      const name = requireName(q.get('name') ?? (typeof json.name === 'string' ? json.name : null));
      const declared = req.headers['x-upload-content-length'];
      const contentType = req.headers['x-upload-content-type'];
      const fields = objectFields(typeof contentType === 'string' ? { ...json, contentType } : json);
      const session = store.createSession(bucket, name, fields, pre, declared === undefined ? undefined : Number(declared));
      const location = `${origin}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${session.id}`;
      res.writeHead(200, { Location: location, 'X-GUploader-UploadID': session.id, 'Content-Length': 0 }).end();
      return;
    }
    default:
      throw badRequest(`Unsupported uploadType ${JSON.stringify(q.get('uploadType'))}.`);
  }
}

/** Fills a fresh blob and commits it; the blob is removed if anything fails. */
async function writeBlob(
  store: GcsStore,
  fill: (sink: Writable) => Promise<void>,
  commit: (blob: BlobFile) => StoredObject,
): Promise<StoredObject> {
  const blob = store.newBlob();
  const sink = await blob.appender();
  try {
    await fill(sink);
    return commit(blob);
  } catch (err) {
    sink.destroy();
    await store.discard(blob);
    throw err;
  }
}

/**
 * One PUT to a resumable session. `Content-Range: bytes a-b/total` (either
 * end may be `*`) carries data; `bytes *\/total` or `bytes *\/*` asks for
 * the status. Bytes the session already holds are skipped, so a client may
 * resend from any earlier offset after an interruption.
 */
async function resumableChunk(store: GcsStore, session: UploadSession, req: IncomingMessage, res: ServerResponse, origin: string) {
  if (session.result) {
    req.resume();
    return sendJson(res, 200, resource(session.result, origin));
  }
  if (session.busy) throw new GcsApiError(503, 'backendError', 'Another request is writing to this upload session.');
  const range = parseContentRange(req.headers['content-range'], req.headers['content-length']);
  if (range.total !== undefined) session.total = range.total;
  const blob = session.blob;
  let openEnded = false;
  if (range.first !== undefined) {
    if (range.first > blob.size) {
      throw badRequest(`The upload offset is ${range.first} byte(s), which exceeds already uploaded size of ${blob.size} byte(s).`);
    }
    session.busy = true;
    try {
      await pipeline(req, await blob.appender(blob.size - range.first));
    } finally {
      session.busy = false;
    }
    // `bytes a-*/*`: the client sends the rest of the object in this one request.
    openEnded = range.last === undefined && range.total === undefined;
  } else {
    req.resume();
  }
  if (session.total !== undefined && blob.size > session.total) throw badRequest('More bytes were uploaded than the declared total.');
  if (openEnded || (session.total !== undefined && blob.size === session.total)) {
    try {
      session.result = store.commit(session.bucket, session.name, blob, session.fields, session.preconditions);
    } catch (err) {
      await store.cancelSession(session.id);
      throw err;
    }
    return sendJson(res, 200, resource(session.result, origin));
  }
  res.writeHead(308, { ...(blob.size > 0 ? { Range: `bytes=0-${blob.size - 1}` } : {}), 'Content-Length': 0 }).end();
}

function parseContentRange(header: string | undefined, contentLength: string | undefined): { first?: number; last?: number; total?: number } {
  if (header === undefined) {
    // A PUT without Content-Range carries the whole object.
    const total = Number(contentLength ?? 0);
    return { first: 0, total };
  }
  const m = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(header.trim());
  if (!m) throw badRequest(`Invalid Content-Range: ${header}`);
  const [, first, last, total] = m;
  return {
    ...(first === undefined ? {} : { first: Number(first) }),
    ...(last === undefined || last === '*' ? {} : { last: Number(last) }),
    ...(total === '*' ? {} : { total: Number(total) }),
  };
}

/** Inclusive byte range of a Range header; undefined for none (or one to ignore, as HTTP allows). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) throw new GcsApiError(416, 'requestedRangeNotSatisfiable', 'The requested range cannot be satisfied.');
  return { start, end };
}

async function token(auth: GcsAuthenticator | undefined, req: IncomingMessage, res: ServerResponse) {
  if (!auth) throw new GcsApiError(404, 'notFound', 'This server has no token endpoint: it runs without auth.');
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const answer = auth.token(new URLSearchParams(Buffer.concat(chunks).toString()), req.headers.authorization);
  sendJson(res, answer.status, answer.body);
}

function objectFields(json: Record<string, unknown>): ObjectFields {
  const fields: ObjectFields = {};
  if (typeof json.contentType === 'string') fields.contentType = json.contentType;
  if (typeof json.md5Hash === 'string') fields.md5Hash = json.md5Hash;
  if (typeof json.crc32c === 'string') fields.crc32c = json.crc32c;
  if (json.metadata !== null && typeof json.metadata === 'object') {
    fields.metadata = Object.fromEntries(Object.entries(json.metadata as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
  }
  return fields;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw badRequest('Invalid JSON body.');
  }
}
