import { spawn } from 'node:child_process';

// Runs a command to its end and collects its output; a failure carries the
// command line and the end of its output, which is what a reader needs.

export interface ExecOptions {
  env: Record<string, string>;
  cwd: string;
  /** Kills the command (SIGTERM) when aborted: Ctrl-C during a step. */
  signal?: AbortSignal;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(message: string, code: number | null, stdout: string, stderr: string) {
    super(message);
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

const tail = (text: string, lines = 15) => text.trimEnd().split('\n').slice(-lines).join('\n');

export function describeCommand(command: string, args: readonly string[]): string {
  return [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function exec(command: string, args: readonly string[], options: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') reject(new ExecError(`${describeCommand(command, args)}: interrupted`, null, '', ''));
      else reject(new ExecError(`cannot run ${command}: ${e.code ?? e.message}`, null, '', ''));
    });
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) return resolve({ stdout, stderr });
      const output = tail(`${stdout}\n${stderr}`);
      reject(new ExecError(`${describeCommand(command, args)} exited with ${code ?? signal}${output ? `:\n${output}` : ''}`, code, stdout, stderr));
    });
  });
}
