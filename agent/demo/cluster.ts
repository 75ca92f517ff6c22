import { access, appendFile, mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { exec } from './exec.ts';
import type { PgTools } from './postgres-tools.ts';

// One throwaway PostgreSQL cluster under a directory of its own: data/, a
// private socket directory (no TCP), and the server log.

/** A free port: PostgreSQL listens only on its private socket, but the port still names it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no free port'))));
    });
  });
}

const quote = (v: string | number | boolean) => (typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v));

export class DemoCluster {
  readonly tools: PgTools;
  readonly root: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  readonly port: number;
  private started = false;

  constructor(tools: PgTools, root: string, port: number) {
    this.tools = tools;
    this.root = root;
    this.dataDir = join(root, 'data');
    this.socketDir = join(root, 'socket');
    this.logFile = join(root, 'postgres.log');
    this.port = port;
  }

  /** The socket directory, given to the server's user; data/ is made by initdb or a restore. */
  async prepare(): Promise<void> {
    await mkdir(this.socketDir, { mode: 0o700 });
    await this.tools.own(this.socketDir);
  }

  async initdb(signal?: AbortSignal): Promise<void> {
    await this.tools.run('initdb', ['-D', this.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C'], this.root, signal);
  }

  /** Settings appended to postgresql.conf: later lines win. */
  async configure(settings: Record<string, string | number | boolean>): Promise<void> {
    const lines = Object.entries(settings).map(([k, v]) => `${k} = ${quote(v)}`);
    await appendFile(join(this.dataDir, 'postgresql.conf'), `\n# walship demo\n${lines.join('\n')}\n`);
  }

  /** The settings that make a throwaway cluster private and quick. */
  baseSettings(): Record<string, string | number | boolean> {
    return {
      port: this.port,
      listen_addresses: '',
      unix_socket_directories: this.socketDir,
      fsync: 'off',
      synchronous_commit: 'off',
      wal_level: 'replica',
      shared_buffers: '64MB',
      max_wal_size: '512MB',
      checkpoint_timeout: '30min',
    };
  }

  async start(signal?: AbortSignal): Promise<void> {
    this.started = true;
    try {
      await this.tools.run('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '120', 'start'], this.root, signal);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- end of ${this.logFile} ---\n${await this.logTail()}`);
    }
  }

  /**
   * Whether a server may be running: started by us, and its postmaster.pid
   * is there. A start cut short (Ctrl-C) may have launched a postmaster that
   * has yet to write the file: give it a moment.
   */
  async mayBeRunning(): Promise<boolean> {
    if (!this.started) return false;
    const pidFile = join(this.dataDir, 'postmaster.pid');
    for (let i = 0; i < 5; i++) {
      if (await access(pidFile).then(() => true, () => false)) return true;
      await sleep(100);
    }
    return false;
  }

  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    if (!(await this.mayBeRunning())) return;
    await this.tools.run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop'], this.root);
  }

  async logTail(lines = 20): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  async query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ host: this.socketDir, port: this.port, user: 'postgres', database: 'postgres', application_name: 'walship-demo' });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async one<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T> {
    const [row] = await this.query<T>(sql, params);
    if (!row) throw new Error(`no row from: ${sql}`);
    return row;
  }

  /** Waits until recovery has ended with promotion; the server log says why when it does not. */
  async waitPromoted(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      try {
        const row = await this.one<{ r: boolean }>('select pg_is_in_recovery() as r');
        if (!row.r) return;
      } catch {
        // not accepting connections yet
      }
      if (Date.now() > deadline) throw new Error(`the restored cluster did not finish recovery in ${timeoutMs / 1000} s\n--- end of ${this.logFile} ---\n${await this.logTail()}`);
      await sleep(100);
    }
  }

  /** pgbench, a client: it runs as ourselves. */
  async pgbench(args: readonly string[], signal?: AbortSignal): Promise<string> {
    const { stdout, stderr } = await exec(join(this.tools.binDir, 'pgbench'), ['-h', this.socketDir, '-p', String(this.port), '-U', 'postgres', ...args, 'postgres'], {
      env: this.tools.env,
      cwd: this.root,
      ...(signal ? { signal } : {}),
    });
    return `${stdout}\n${stderr}`;
  }

  psqlCommand(): string {
    return `psql -h ${this.socketDir} -p ${this.port} -U postgres`;
  }
}
