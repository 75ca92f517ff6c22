import { spawn } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Runs the real bin/walship-client the way PostgreSQL's container would:
// under dash (Debian's /bin/sh) or busybox ash (Alpine's), with a PATH that
// holds nothing but the three external commands the client may use, so a
// stray dependency on anything else fails the tests. Each shell also has a
// PATH with sleep alone, all a client needs when it takes an answer slot
// the agent made. (Debian's busybox runs its own applets whatever PATH
// says, so under busybox only dash's PATH proves that nothing else runs.)

export const CLIENT = fileURLToPath(new URL('../../bin/walship-client', import.meta.url));
export const CLIENT_COMMANDS = ['mkfifo', 'rm', 'sleep'] as const;
/** What a client that takes an answer slot, and gets its answer, runs. */
export const SLOT_CLIENT_COMMANDS = ['sleep'] as const;

export interface Shell {
  name: string;
  /** The command line that runs a script: the script and its arguments follow. */
  argv: string[];
  /** A directory holding only the allowed external commands. */
  path: string;
  /** A directory holding only SLOT_CLIENT_COMMANDS. */
  slotPath: string;
}

/** dash with coreutils, and busybox sh with busybox applets, each confined to its own bin directory under root. */
export async function clientShells(root: string): Promise<Shell[]> {
  const bin = async (name: string, commands: readonly string[], target: (cmd: string) => string) => {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    for (const cmd of commands) await symlink(target(cmd), join(dir, cmd));
    return dir;
  };
  const coreutils = (cmd: string) => `/bin/${cmd}`;
  const busybox = () => '/usr/bin/busybox';
  return [
    {
      name: 'dash',
      argv: ['/usr/bin/dash'],
      path: await bin('dash-bin', CLIENT_COMMANDS, coreutils),
      slotPath: await bin('dash-slot-bin', SLOT_CLIENT_COMMANDS, coreutils),
    },
    {
      name: 'busybox sh',
      argv: ['/usr/bin/busybox', 'sh'],
      path: await bin('busybox-bin', ['sh', ...CLIENT_COMMANDS], busybox),
      slotPath: await bin('busybox-slot-bin', ['sh', ...SLOT_CLIENT_COMMANDS], busybox),
    },
  ];
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
