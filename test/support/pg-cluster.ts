import { execFile, spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile, appendFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.ts';

// Real PostgreSQL 15 clusters for tests: initdb in a temp directory, a free
// port, a private socket directory. PostgreSQL refuses to run as root, so
// as root every server command runs as the postgres user.

const run = promisify(execFile);
export const PG_BIN = process.env.WALSHIP_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const asRoot = process.getuid?.() === 0;

let postgresIds: { uid: number; gid: number } | undefined;
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  if (!postgresIds) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    postgresIds = { uid, gid };
  }
  return postgresIds;
}

/** Runs a PostgreSQL binary, as postgres when we are root. */
export async function pgExec(binary: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const path = binary.includes('/') ? binary : join(PG_BIN, binary);
  const fullEnv = { ...process.env, ...env };
  try {
    return asRoot
      ? // runuser is found on this process's PATH; `env` then gives the server exactly the variables asked for (a PATH too).
        await run('runuser', ['-u', 'postgres', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), path, ...args], { env: process.env, maxBuffer: 64 * 1024 * 1024 })
      : await run(path, [...args], { env: fullEnv, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${binary} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** A directory the postgres user owns (the tests' own temp dirs are root's). */
export async function postgresOwnedDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (asRoot) {
    const { uid, gid } = await postgresUser();
    await chown(dir, uid, gid);
  }
  return dir;
}

/** A new directory under parent, owned by postgres: a filesystem store root, which walship never creates itself. */
export async function postgresOwnedSubdir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir);
  await chownToPostgres(dir);
  return dir;
}

export async function chownToPostgres(path: string): Promise<void> {
  if (!asRoot) return;
  const { uid, gid } = await postgresUser();
  await chown(path, uid, gid);
}

export interface ClusterOptions {
  /** initdb --data-checksums. */
  dataChecksums?: boolean;
  /** postgresql.conf lines added after the defaults. */
  conf?: Record<string, string | number | boolean>;
  /** Environment of the server process, and so of archive_command and restore_command. */
  env?: Record<string, string>;
}

export class PgCluster {
  readonly root: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly port: number;
  readonly env: Record<string, string>;
  private running = false;

  private constructor(root: string, dataDir: string, port: number, env: Record<string, string>) {
    this.root = root;
    this.dataDir = dataDir;
    this.socketDir = join(root, 'sock');
    this.port = port;
    this.env = env;
  }

  /** initdb a new cluster (not started). */
  static async create(options: ClusterOptions = {}): Promise<PgCluster> {
    const root = await postgresOwnedDir('walship-pg-');
    const cluster = new PgCluster(root, join(root, 'data'), await freePort(), options.env ?? {});
    await pgExec('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C', ...(options.dataChecksums ? ['--data-checksums'] : [])]);
    await cluster.prepareDirs();
    await cluster.setConf({ ...baseConf(cluster), ...(options.conf ?? {}) });
    return cluster;
  }

  /** A cluster over an existing data directory, e.g. one made by pg_basebackup or a restore. */
  static async adopt(root: string, dataDir: string, options: ClusterOptions = {}): Promise<PgCluster> {
    const cluster = new PgCluster(root, dataDir, await freePort(), options.env ?? {});
    await cluster.prepareDirs();
    await cluster.setConf({ ...baseConf(cluster), ...(options.conf ?? {}) });
    return cluster;
  }

  private async prepareDirs(): Promise<void> {
    await mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    await chownToPostgres(this.socketDir);
  }

  /** Appends settings to postgresql.auto.conf-like override file included last. */
  async setConf(settings: Record<string, string | number | boolean>): Promise<void> {
    const lines = Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v)}`);
    await appendFile(join(this.dataDir, 'postgresql.conf'), `\n${lines.join('\n')}\n`);
  }

  get logFile(): string {
    return join(this.root, 'server.log');
  }

  async start(): Promise<void> {
    await pgExec('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '120', 'start'], this.env);
    this.running = true;
  }

  /** Starts without waiting for connections: for recoveries that end in shutdown or pause. */
  async startNoWait(): Promise<void> {
    await pgExec('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-W', 'start'], this.env);
    this.running = true;
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.running) return;
    await pgExec('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '120', 'stop']).catch(() => undefined);
    this.running = false;
  }

  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  client(database = 'postgres'): pg.Client {
    return new pg.Client({ host: this.socketDir, port: this.port, user: 'postgres', database });
  }

  async query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = this.client();
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  async pgbench(args: readonly string[]): Promise<string> {
    const { stdout, stderr } = await pgExec(join(PG_BIN, 'pgbench'), ['-h', this.socketDir, '-p', String(this.port), '-U', 'postgres', ...args, 'postgres']);
    return stdout + stderr;
  }

  /** pg_basebackup into a fresh postgres-owned directory; returns the new root and data dir. */
  async baseBackup(walMethod: 'none' | 'stream' = 'none'): Promise<{ root: string; dataDir: string }> {
    const root = await postgresOwnedDir('walship-pgbb-');
    const dataDir = join(root, 'data');
    await pgExec('pg_basebackup', ['-h', this.socketDir, '-p', String(this.port), '-U', 'postgres', '-D', dataDir, '-X', walMethod, '-c', 'fast', '--no-sync']);
    return { root, dataDir };
  }

  /** Waits until the server accepts queries and recovery has ended (promotion). */
  async waitPromoted(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const rows = await this.query<{ r: boolean }>('select pg_is_in_recovery() as r');
        if (rows[0]?.r === false) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`cluster on port ${this.port} not promoted in ${timeoutMs} ms\n${(await this.log()).slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async destroy(): Promise<void> {
    await this.stop('immediate');
    await rm(this.root, { recursive: true, force: true });
  }
}

function baseConf(cluster: PgCluster): Record<string, string | number | boolean> {
  return {
    port: cluster.port,
    listen_addresses: '',
    unix_socket_directories: cluster.socketDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'on',
    wal_level: 'replica',
    max_wal_senders: 4,
    shared_buffers: '64MB',
    max_wal_size: '256MB',
    log_min_messages: 'info',
  };
}

/** Spawns a long-running process as the postgres user when we are root. */
export function spawnAsPostgres(command: string, args: readonly string[], env: Record<string, string>) {
  return asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), command, ...args], { stdio: 'pipe' })
    : spawn(command, [...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
}

export async function writeOwned(path: string, content: string): Promise<void> {
  await writeFile(path, content);
  await chownToPostgres(path);
}
