import { access, chown, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { WalshipError } from '../errors.ts';
import { which } from '../pg/server-binaries.ts';
import { exec, type ExecResult } from './exec.ts';

// The PostgreSQL binaries the demo needs, and how to run them: PostgreSQL
// refuses to run as root, so as root the server binaries run as the
// postgres user (runuser) and the files they use are given to it.

const NEEDED = ['initdb', 'pg_ctl', 'postgres', 'pgbench'] as const;

export interface PgTools {
  binDir: string;
  /** The environment child processes get: PATH only. */
  env: Record<string, string>;
  /** e.g. "15.18" */
  version: string;
  /** The user the server runs as when we are root; undefined when we run it ourselves. */
  serverUser: { name: string; uid: number; gid: number } | undefined;
  /** Runs a PostgreSQL binary as the server's user. */
  run(binary: string, args: readonly string[], cwd: string, signal?: AbortSignal): Promise<ExecResult>;
  /** The command line that runs binary as the server's user, for the reader to copy. */
  commandLine(binary: string, args: readonly string[]): string[];
  /** Runs any command as the server's user. */
  runAs(command: string, args: readonly string[]): Promise<ExecResult>;
  /** Gives a file or directory we created to the server's user. */
  own(path: string): Promise<void>;
}

async function hasAll(dir: string): Promise<boolean> {
  for (const name of NEEDED) {
    try {
      await access(join(dir, name), constants.X_OK);
    } catch {
      return false;
    }
  }
  return true;
}

/** /usr/lib/postgresql/<version>/bin (Debian, Ubuntu), newest first. */
async function debianBinDirs(): Promise<string[]> {
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  return versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join('/usr/lib/postgresql', v, 'bin'));
}

async function pgConfigBinDir(env: Record<string, string>): Promise<string | undefined> {
  try {
    return (await exec('pg_config', ['--bindir'], { env, cwd: '/' })).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

async function findBinDir(explicit: string | undefined, env: Record<string, string>): Promise<string> {
  if (explicit !== undefined) {
    if (await hasAll(explicit)) return explicit;
    throw new WalshipError('CONFIG_INVALID', `--pg-bin ${explicit}: expected the PostgreSQL binaries there (${NEEDED.join(', ')})`);
  }
  const candidates = [...(await debianBinDirs())];
  const fromPgConfig = await pgConfigBinDir(env);
  if (fromPgConfig !== undefined) candidates.push(fromPgConfig);
  for (const dir of candidates) if (await hasAll(dir)) return dir;
  throw new WalshipError(
    'CONFIG_MISSING',
    `walship demo needs the PostgreSQL server binaries (${NEEDED.join(', ')}), and found none: looked in /usr/lib/postgresql/*/bin and in \`pg_config --bindir\`${fromPgConfig ? ` (${fromPgConfig})` : ''}. Install PostgreSQL (Debian and Ubuntu: apt-get install postgresql), or give the directory with --pg-bin DIR`,
  );
}

export async function findPgTools(explicit: string | undefined, env: Record<string, string>): Promise<PgTools> {
  const binDir = await findBinDir(explicit, env);
  let serverUser: PgTools['serverUser'];
  let runuser = 'runuser';
  if (process.getuid?.() === 0) {
    try {
      const uid = Number((await exec('id', ['-u', 'postgres'], { env, cwd: '/' })).stdout.trim());
      const gid = Number((await exec('id', ['-g', 'postgres'], { env, cwd: '/' })).stdout.trim());
      runuser = (await which('runuser', env.PATH ?? '')) ?? 'runuser';
      await exec(runuser, ['--help'], { env, cwd: '/' });
      serverUser = { name: 'postgres', uid, gid };
    } catch {
      throw new WalshipError(
        'CONFIG_MISSING',
        'walship demo runs as root, and PostgreSQL refuses to: it needs a postgres user to run the server as (with runuser), and there is none. Create one (useradd postgres), or run walship demo as an ordinary user',
      );
    }
  }
  const commandLine = (binary: string, args: readonly string[]) => {
    const path = join(binDir, binary);
    return serverUser ? [runuser, '-u', serverUser.name, '--', path, ...args] : [path, ...args];
  };
  const versionText = (await exec(join(binDir, 'postgres'), ['--version'], { env, cwd: '/' })).stdout;
  const version = /\(PostgreSQL\)\s+(\S+)/.exec(versionText)?.[1] ?? versionText.trim();
  return {
    binDir,
    env,
    version,
    serverUser,
    commandLine,
    run(binary, args, cwd, signal) {
      const [command, ...rest] = commandLine(binary, args);
      return exec(command!, rest, { env, cwd, ...(signal ? { signal } : {}) });
    },
    runAs(command, args) {
      return serverUser ? exec(runuser, ['-u', serverUser.name, '--', command, ...args], { env, cwd: '/' }) : exec(command, args, { env, cwd: '/' });
    },
    async own(path) {
      if (serverUser) await chown(path, serverUser.uid, serverUser.gid);
    },
  };
}
