import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';

// A recording, fault-injecting HTTP proxy to put between the S3 driver and
// the emulator: tests see exactly which requests and headers went out, and
// can make chosen requests fail the way S3 fails them.

export interface SeenRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Base64 MD5 of the body, once forwarded. */
  bodyMd5?: string;
}

/** An answer to give instead of forwarding: an S3 error code, or a whole XML body. */
export type FaultAnswer = { status: number; code: string } | { status: number; xml: string };
/** Returns an answer to give instead of forwarding, or undefined to forward. */
export type Fault = (req: SeenRequest) => FaultAnswer | undefined;

export interface S3Proxy {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

export async function startS3Proxy(target: string, fault: Fault = () => undefined): Promise<S3Proxy> {
  const upstream = new URL(target);
  const seen: SeenRequest[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const entry: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    seen.push(entry);
    const injected = fault(entry);
    if (injected) {
      req.resume();
      await once(req, 'end');
      const xml = 'xml' in injected ? injected.xml : `<Error><Code>${injected.code}</Code><Message>injected by the test proxy</Message></Error>`;
      res.writeHead(injected.status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
      return;
    }
    // The Host header is forwarded unchanged: it is part of the SigV4 signature.
    const out = request({ host: upstream.hostname, port: upstream.port, method: entry.method, path: entry.url, headers: req.headers });
    const answer = once(out, 'response') as Promise<[IncomingMessage]>;
    // A client that gives up mid-request fails both; the pipeline's rejection is the one reported.
    answer.catch(() => undefined);
    const md5 = createHash('md5');
    await pipeline(
      req,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          md5.update(chunk);
          yield chunk;
        }
      },
      out,
    );
    entry.bodyMd5 = md5.digest('base64');
    const [upstreamRes] = await answer;
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
    await pipeline(upstreamRes, res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('s3 proxy: no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
