import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGcsHandler } from './gcs-api.ts';
import { GcsAuthenticator, type GcsAuthConfig } from './gcs-auth.ts';
import { GcsStore } from './gcs-store.ts';

// A small, faithful GCS JSON API server for tests, storing bodies on disk.
//
//   node test/support/gcs-server.ts --port N --dir D [--bucket NAME]... [--auth auth.json]
//
// prints one JSON line, {"port":N}, once it listens. Tests start it with
// startGcsServer(), which runs it as a child process so that the test
// process's memory measures walship alone.

export interface GcsServerOptions {
  /** Buckets that exist from the start. */
  buckets?: string[];
  /** Without it, the server accepts any request; with it, only the credentials it names. */
  auth?: GcsAuthConfig;
  /** Where bodies are stored; a temp directory, removed on stop(), if omitted. */
  dir?: string;
}

export interface GcsServer {
  url: string;
  port: number;
  /** The OAuth token endpoint, for credentials files that name one. */
  tokenUrl: string;
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startGcsServer(options: GcsServerOptions = {}): Promise<GcsServer> {
  const scratch = await mkdtemp(join(tmpdir(), 'walship-gcs-'));
  const dir = options.dir ?? join(scratch, 'data');
  const args = [SELF, '--port', '0', '--dir', dir, '--exit-with-stdin'];
  for (const bucket of options.buckets ?? []) args.push('--bucket', bucket);
  if (options.auth) {
    const authFile = join(scratch, 'auth.json');
    await writeFile(authFile, JSON.stringify(options.auth));
    args.push('--auth', authFile);
  }
  // stdin is a pipe the child watches: if this process dies, the server goes too.
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    exited.then(([code]) => Promise.reject(new Error(`gcs test server exited with ${String(code)} before listening`))),
  ]);
  const { port } = JSON.parse(first) as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    tokenUrl: `${url}/token`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      lines.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      dir: { type: 'string' },
      bucket: { type: 'string', multiple: true, default: [] },
      auth: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'exit-with-stdin': { type: 'boolean', default: false },
    },
  });
  if (!values.dir) throw new Error('--dir is required');
  const store = new GcsStore(values.dir);
  await store.init();
  for (const bucket of values.bucket) store.createBucket(bucket);
  const auth = values.auth ? new GcsAuthenticator(JSON.parse(await readFile(values.auth, 'utf8')) as GcsAuthConfig) : undefined;
  // A 1 GiB upload may take longer than Node's default five-minute request timeout on a slow machine.
  const server = createServer({ requestTimeout: 0 }, createGcsHandler(store, auth));
  server.listen(Number(values.port), values.host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  const shutdown = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (values['exit-with-stdin']) process.stdin.on('end', shutdown).resume();
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
