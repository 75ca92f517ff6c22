import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { open, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoHost } from './host.ts';

// `walship agent` as a child of the demo, the same Node.js and executable,
// logging to a file. It runs in a process group of its own, so Ctrl-C
// reaches the demo alone, which then stops everything in order; and with
// --keep it outlives the demo.

export interface AgentChild {
  readonly pid: number;
  readonly logFile: string;
  /** http://host:port of /metrics, /healthz and /readyz. */
  readonly httpUrl: string;
  /** SIGTERM, and waits for the exit (SIGKILL after timeoutMs). */
  stop(timeoutMs?: number): Promise<void>;
  /** Lets the demo exit while the agent runs on (--keep). */
  detach(): void;
}

function parseLines(text: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ msg: line });
    }
  }
  return lines;
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

export async function startAgentChild(host: DemoHost, env: Record<string, string>, logFile: string, cwd: string, signal: AbortSignal, timeoutMs = 30_000): Promise<AgentChild> {
  const log = await open(logFile, 'a');
  let child: ChildProcess;
  let started: Promise<true | Error>;
  try {
    child = spawn(host.node, [host.walshipBin, 'agent'], { env, cwd, detached: true, stdio: ['ignore', log.fd, log.fd] });
    // Listened for at once: 'spawn' is emitted on the next tick.
    started = Promise.race([once(child, 'spawn').then(() => true as const), once(child, 'error').then(([e]) => e as Error)]);
  } finally {
    await log.close();
  }
  const exited = once(child, 'exit').catch(() => undefined);
  const spawned = await started;
  if (spawned !== true) throw new Error(`cannot start ${host.walshipBin} agent: ${spawned.message}`);

  const stop = async (stopTimeoutMs = 30_000) => {
    if (!alive(child)) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + timeoutMs;
  let httpAddress: string | undefined;
  while (httpAddress === undefined) {
    const lines = parseLines(await readFile(logFile, 'utf8').catch(() => ''));
    const serving = lines.find((l) => l.msg === 'serving /metrics, /healthz, /readyz');
    if (serving) {
      httpAddress = String(serving.http);
      break;
    }
    const last = lines.slice(-8).map((l) => JSON.stringify(l)).join('\n');
    if (!alive(child)) throw new Error(`walship agent exited with ${child.exitCode ?? child.signalCode} at start-up; its log ${logFile} ends:\n${last}`);
    if (signal.aborted || Date.now() > deadline) {
      await stop(5_000);
      if (signal.aborted) signal.throwIfAborted();
      throw new Error(`walship agent did not start in ${timeoutMs / 1000} s; its log ${logFile} ends:\n${last}`);
    }
    await sleep(50);
  }
  return {
    pid: child.pid!,
    logFile,
    httpUrl: `http://${httpAddress}`,
    stop,
    detach: () => child.unref(),
  };
}
