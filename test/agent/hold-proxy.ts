import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';

// A slow store on demand: an HTTP proxy in front of the S3 emulator that,
// while holding, keeps chosen requests (WAL uploads) waiting without
// forwarding them, as a store that stalls mid-upload does. A held request
// whose client goes away is dropped; release() forwards the rest.

export interface HoldProxy {
  url: string;
  /** Requests waiting now. */
  readonly held: number;
  /** Requests matching this are held from now on. */
  hold(match: (method: string, url: string) => boolean): void;
  /** Stops holding and forwards what is waiting. */
  release(): void;
  close(): Promise<void>;
}

export async function startHoldProxy(target: string): Promise<HoldProxy> {
  const upstream = new URL(target);
  let match: ((method: string, url: string) => boolean) | undefined;
  const waiting = new Set<() => void>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    // Host is forwarded unchanged: it is part of the SigV4 signature.
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  };

  const server = createServer((req, res) => {
    if (!match?.(req.method ?? 'GET', req.url ?? '/')) return forward(req, res);
    const go = () => {
      waiting.delete(go);
      forward(req, res);
    };
    waiting.add(go);
    // The client gave up (or died): nothing to forward.
    res.on('close', () => waiting.delete(go));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('hold proxy: no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    get held() {
      return waiting.size;
    },
    hold(m) {
      match = m;
    },
    release() {
      match = undefined;
      for (const go of [...waiting]) go();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
