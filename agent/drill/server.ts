import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { WalshipError } from '../errors.ts';
import type { ServerUser } from '../pg/server-binaries.ts';

// The drill's PostgreSQL: the restored directory started with a private
// socket and no TCP at all (listen_addresses = ''), not archiving (it must
// never write into the store it was restored from), with a trust pg_hba on
// that socket only, which only the drill's user can reach (mode 0700).
// Settings are given on the command line, so they win over whatever the
// backup's postgresql.conf says.

const PORT = 5432;

export interface DrillServerOptions {
  binDir: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
  hbaFile: string;
  user: ServerUser | undefined;
  /** The server's environment: restore_command's walship reads its configuration from it. */
  env: Record<string, string>;
}

export class DrillServer {
  readonly #options: DrillServerOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> | undefined;

  constructor(options: DrillServerOptions) {
    this.#options = options;
  }

  start(): void {
    const o = this.#options;
    const settings: Record<string, string> = {
      listen_addresses: '',
      unix_socket_directories: o.socketDir,
      port: String(PORT),
      archive_mode: 'off',
      hot_standby: 'off',
      hba_file: o.hbaFile,
      logging_collector: 'off',
      log_destination: 'stderr',
      ssl: 'off',
      cluster_name: 'walship-drill',
      // Restartpoints keep the replayed WAL in pg_wal small, within the drill's disk budget.
      max_wal_size: '256MB',
    };
    const args = [join(o.binDir, 'postgres'), '-D', o.dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const [command, ...rest] = [...(o.user?.prefix ?? []), ...args];
    const log = open(o.logFile, 'a');
    this.#child = spawn(command!, rest, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'], cwd: o.dataDir });
    // stdout and stderr into the log file, which the failure messages quote.
    void log.then(async (handle) => {
      const write = (c: Buffer) => void handle.write(c).catch(() => undefined);
      this.#child!.stdout!.on('data', write);
      this.#child!.stderr!.on('data', write);
      await once(this.#child!, 'close').catch(() => undefined);
      await handle.close();
    });
    this.#exited = once(this.#child, 'exit').catch(() => undefined);
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  client(database = 'postgres', user = 'postgres'): pg.Client {
    return new pg.Client({ host: this.#options.socketDir, port: PORT, user, database, connectionTimeoutMillis: 5000 });
  }

  /** Waits until the server accepts queries: recovery has ended. */
  async waitReady(user: string, deadline: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (!this.running) throw new WalshipError('DRILL_FAILED', `PostgreSQL stopped before it accepted queries:\n${await this.logTail()}`);
      const client = this.client('postgres', user);
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('select 1');
        await client.end();
        return;
      } catch (err) {
        await client.end().catch(() => undefined);
        const text = (err as Error).message;
        // A role that does not exist will not start existing: no use waiting.
        if (/role .* does not exist/.test(text)) throw new WalshipError('DRILL_FAILED', `the restored cluster has no role ${user} to check it with (set PGUSER to one of its superusers): ${text}`);
      }
      if (signal?.aborted) throw new WalshipError('DRILL_FAILED', 'the drill was stopped (the agent is stopping) before recovery ended');
      if (Date.now() > deadline) throw new WalshipError('DRILL_FAILED', `PostgreSQL did not finish recovery within the drill's deadline (WALSHIP_DRILL_TIMEOUT):\n${await this.logTail()}`);
      await sleep(250);
    }
  }

  /** The postmaster's pid, from postmaster.pid: under runuser, the child is runuser, not the server. */
  async #postmasterPid(): Promise<number | undefined> {
    const text = await readFile(join(this.#options.dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
    const pid = Number(text?.split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /**
   * Fast shutdown (a clean stop, so pg_controldata reads "shut down"), then
   * immediate, then SIGKILL: whatever happened, no server is left running.
   */
  async stop(graceMs = 60_000): Promise<boolean> {
    if (!this.#child) return false;
    let clean = true;
    for (const [sig, wait] of [['SIGINT', graceMs], ['SIGQUIT', 10_000], ['SIGKILL', 10_000]] as const) {
      if (!this.running) break;
      if (sig !== 'SIGINT') clean = false;
      const pid = await this.#postmasterPid();
      for (const target of [pid, this.#child.pid]) {
        try {
          if (target !== undefined) process.kill(target, sig);
        } catch {
          // already gone
        }
      }
      await Promise.race([this.#exited, sleep(wait)]);
    }
    // The postmaster's children end with it; wait until its pid is gone for good.
    const pid = await this.#postmasterPid();
    for (let i = 0; pid !== undefined && i < 100 && alive(pid); i++) await sleep(100);
    return clean;
  }

  async logTail(lines = 20): Promise<string> {
    const text = await readFile(this.#options.logFile, 'utf8').catch(() => '');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  async log(): Promise<string> {
    return readFile(this.#options.logFile, 'utf8').catch(() => '');
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
