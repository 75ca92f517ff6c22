import { spawn } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Runs the real bin/walship-client the way PostgreSQL's container would:
// under dash (Debian's /bin/sh) or busybox ash (Alpine's), with a PATH that
// holds nothing but the three external commands the client may use, so a
// stray dependency on anything else fails the tests.

export const CLIENT = fileURLToPath(new URL('../../bin/walship-client', import.meta.url));
export const CLIENT_COMMANDS = ['mkfifo', 'rm', 'sleep'] as const;

export interface Shell {
  name: string;
  /** The command line that runs a script: the script and its arguments follow. */
  argv: string[];
  /** A directory holding only the allowed external commands. */
  path: string;
}

/** dash with coreutils, and busybox sh with busybox applets, each confined to its own bin directory under root. */
export async function clientShells(root: string): Promise<Shell[]> {
  const shells: Shell[] = [];
  const dashBin = join(root, 'dash-bin');
  await mkdir(dashBin, { recursive: true });
  for (const cmd of CLIENT_COMMANDS) await symlink(`/bin/${cmd}`, join(dashBin, cmd));
  shells.push({ name: 'dash', argv: ['/usr/bin/dash'], path: dashBin });
  const busyboxBin = join(root, 'busybox-bin');
  await mkdir(busyboxBin, { recursive: true });
  for (const cmd of ['sh', ...CLIENT_COMMANDS]) await symlink('/usr/bin/busybox', join(busyboxBin, cmd));
  shells.push({ name: 'busybox sh', argv: ['/usr/bin/busybox', 'sh'], path: busyboxBin });
  return shells;
}

export interface ClientRun {
  pid: number;
  code: number | null;
  stderr: string;
  stdout: string;
  /** From spawn to exit, process start-up included: what PostgreSQL waits. */
  ms: number;
}

export interface ClientOptions {
  /** The spool; omitted, the client uses the "spool" directory beside the script. */
  spool?: string;
  cwd: string;
  env?: Record<string, string>;
  /** Another copy of the client (one that another user can read). */
  script?: string;
  /** Run as this user through runuser (the test must be root). */
  user?: string;
}

export function runClient(shell: Shell, args: readonly string[], options: ClientOptions): Promise<ClientRun> {
  const env: Record<string, string> = { PATH: shell.path, ...options.env };
  if (options.spool !== undefined) env.WALSHIP_SPOOL = options.spool;
  const command = [...shell.argv, options.script ?? CLIENT, ...args];
  const argv = options.user === undefined ? command : ['/usr/sbin/runuser', '-u', options.user, '--', ...command];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ pid: child.pid!, code, ms: performance.now() - started, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}
