import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

// A minimal HTTP exchange on node:http, for the JSON API calls. Measured
// on 2000 small uploads, gaxios (node-fetch 2) allocates 85 KB per call
// and node:http 45 KB, and takes 1.6 times as long. The process-wide
// agents keep connections alive and, with NODE_USE_ENV_PROXY=1, go through
// the proxy the environment names.

export interface Exchange {
  url: string;
  method?: 'GET' | 'POST' | 'DELETE';
  params?: Record<string, string | number>;
  headers?: Record<string, string>;
  /** Parts are sent one after the other, so a large body is not copied to frame it. */
  body?: Buffer | string | readonly (Buffer | string)[];
  responseType: 'json' | 'text' | 'stream';
  signal?: AbortSignal;
  /** Milliseconds until the answer is in: its headers, and for json and text its body. */
  timeout: number;
}

export interface Answer<T> {
  status: number;
  headers: IncomingHttpHeaders;
  data: T;
}

/** A non-2xx answer, shaped as the errors of Google's client libraries are (status, response.data). */
export class HttpStatusError extends Error {
  readonly status: number;
  readonly response: { status: number; data: unknown };

  constructor(status: number, data: unknown) {
    super(`HTTP ${status}`);
    this.name = 'HttpStatusError';
    this.status = status;
    this.response = { status, data };
  }
}

/** No answer in time: a network failure, so the code is a network code. */
class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

export function exchange<T>(x: Exchange): Promise<Answer<T>> {
  const url = new URL(x.url);
  for (const [k, v] of Object.entries(x.params ?? {})) url.searchParams.set(k, String(v));
  const headers: Record<string, string | number> = { ...x.headers };
  const parts = x.body === undefined ? [] : Array.isArray(x.body) ? x.body : [x.body as Buffer | string];
  if (x.body !== undefined) headers['Content-Length'] = parts.reduce((n, part) => n + Buffer.byteLength(part), 0);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise<Answer<T>>((resolve, reject) => {
    const req = send(url, { method: x.method ?? 'GET', headers, ...(x.signal ? { signal: x.signal } : {}) });
    const timer = setTimeout(() => req.destroy(new HttpTimeoutError(`no answer from ${url.host} in ${x.timeout} ms`)), x.timeout);
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      fn();
    };
    req.on('error', (err) => settle(() => reject(err)));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300 && x.responseType === 'stream') {
        settle(() => resolve({ status, headers: res.headers, data: res as unknown as T }));
        return;
      }
      readBody(res).then(
        (text) => {
          const data = parse(text, res.headers['content-type']);
          settle(() => (status >= 200 && status < 300 ? resolve({ status, headers: res.headers, data: (x.responseType === 'text' ? text : data) as T }) : reject(new HttpStatusError(status, data))));
        },
        (err: unknown) => settle(() => reject(err)),
      );
    });
    for (const part of parts) req.write(part);
    req.end();
  });
}

async function readBody(res: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

function parse(text: string, contentType: string | undefined): unknown {
  if (text === '' || !/json/i.test(contentType ?? '')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
