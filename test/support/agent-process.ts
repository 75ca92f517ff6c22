import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { WALSHIP_BIN } from './cli.ts';

export interface AgentProcess {
  child: ChildProcess;
  /** Base URL of /metrics, /healthz and /readyz. */
  httpUrl: string;
  /** Log lines so far, parsed. */
  logs(): Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `walship agent` as users do, and waits until it serves requests. */
export async function startAgentProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<AgentProcess> {
  const child = spawn(process.execPath, [WALSHIP_BIN, 'agent'], {
    // Port 0: each test agent gets its own free port; the log says which.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', WALSHIP_LOG_LEVEL: 'info', WALSHIP_HTTP_ADDRESS: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  let buffer = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      raw += line + '\n';
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  child.stdout!.resume();
  const deadline = Date.now() + timeoutMs;
  const serving = () => lines.find((l) => l.msg === 'serving /metrics, /healthz, /readyz');
  while (!serving()) {
    if (child.exitCode !== null) throw new Error(`walship agent exited with ${child.exitCode}:\n${raw}${buffer}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`walship agent did not start in ${timeoutMs} ms:\n${raw}${buffer}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    child,
    httpUrl: `http://${String(serving()!.http)}`,
    logs: () => lines,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}
