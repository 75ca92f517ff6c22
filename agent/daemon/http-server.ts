import { createServer, type Server } from 'node:http';
import type { HealthReport } from './health.ts';
import type { WalshipMetrics } from './metrics.ts';

// /metrics for Prometheus; /healthz (the process answers) and /readyz (the
// store and PostgreSQL answer, and archiving is not failing) for Kubernetes.

export interface HttpEndpoint {
  readonly address: string;
  close(): Promise<void>;
}

export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`not a listen address: ${text}`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export async function startHttpServer(listen: string, metrics: WalshipMetrics, health: { report(): HealthReport }): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/metrics') {
      metrics.render().then(
        ({ contentType, body }) => send(200, contentType, body),
        (err: unknown) => send(500, 'text/plain', `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz') return send(200, 'application/json', '{"alive":true}\n');
    if (path === '/readyz') {
      const report = health.report();
      return send(report.ready ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`);
    }
    send(404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
  });
  const { host, port } = parseListenAddress(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const address = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : listen;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
