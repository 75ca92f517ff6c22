import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GcsApiError, badRequest, errorBody } from './gcs-errors.ts';
import { boundaryOf } from './gcs-multipart.ts';
import { preconditions } from './gcs-query.ts';
import { resource } from './gcs-resource.ts';
import type { GcsStore } from './gcs-store.ts';

// POST /batch/storage/v1: a multipart/mixed body of up to 100 nested HTTP
// requests, answered by a multipart/mixed body of nested responses whose
// Content-IDs are the calls' own with "response-" in front. The nested
// requests inherit the outer request's credentials. Supported inside a
// batch: object metadata GET and object DELETE, what a backup tool batches.

const MAX_CALLS = 100;
const MAX_BODY = 10 * 1024 * 1024;

interface Answer {
  status: number;
  body?: unknown;
}

export async function batch(store: GcsStore, req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
  const boundary = boundaryOf(req.headers['content-type']);
  const text = await readText(req);
  const parts = text.split(`--${boundary}`).slice(1).filter((p) => !p.startsWith('--'));
  if (parts.length > MAX_CALLS) throw badRequest(`A batch may hold at most ${MAX_CALLS} calls.`);

  const out = `batch_${randomBytes(9).toString('base64url')}`;
  const answers = parts.map((part, i) => {
    const [partHeaders = '', inner = ''] = splitOnce(part.replace(/^\r\n/, ''), '\r\n\r\n');
    const id = /^content-id:\s*<([^>]*)>/im.exec(partHeaders)?.[1] ?? String(i + 1);
    return { id, answer: call(store, inner.split('\r\n')[0] ?? '', origin) };
  });
  const body =
    answers
      .map(({ id, answer }) => {
        const json = answer.body === undefined ? '' : JSON.stringify(answer.body);
        const head = `HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? 'Unknown'}\r\n${json ? 'Content-Type: application/json; charset=UTF-8\r\n' : ''}Content-Length: ${Buffer.byteLength(json)}\r\n`;
        return `--${out}\r\nContent-Type: application/http\r\nContent-ID: <response-${id}>\r\n\r\n${head}\r\n${json}\r\n`;
      })
      .join('') + `--${out}--\r\n`;
  res.writeHead(200, { 'Content-Type': `multipart/mixed; boundary=${out}`, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 412: 'Precondition Failed' };

/** One nested call, from its request line. */
function call(store: GcsStore, requestLine: string, origin: string): Answer {
  try {
    const m = /^(GET|DELETE) (\S+) HTTP\/1\.1$/.exec(requestLine);
    if (!m) throw badRequest(`Unsupported call in a batch: ${requestLine}`);
    const url = new URL(m[2]!, origin);
    const path = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const at = path.indexOf('b');
    const [bucket, o, ...name] = path.slice(at + 1);
    if (at < 0 || path.slice(0, at).join('/').slice(-10) !== 'storage/v1' || bucket === undefined || o !== 'o' || name.length === 0) {
      throw badRequest(`Unsupported call in a batch: ${requestLine}`);
    }
    const objectName = name.join('/');
    if (m[1] === 'DELETE') {
      store.delete(bucket, objectName, preconditions(url.searchParams));
      return { status: 204 };
    }
    const object = store.get(bucket, objectName);
    store.check(bucket, objectName, preconditions(url.searchParams));
    return { status: 200, body: resource(object, origin) };
  } catch (err) {
    if (!(err instanceof GcsApiError)) throw err;
    return { status: err.status, body: errorBody(err) };
  }
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw badRequest('A batch request must be smaller than 10 MB.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString();
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + separator.length)];
}
