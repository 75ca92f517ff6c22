import { describeCommand, exec } from './exec.ts';
import type { DemoHost } from './host.ts';

// walship's own commands, run as a user runs them: the same Node.js and
// bin/walship as this process, with only the environment given.

export interface WalshipRun {
  /** As the report shows it: `walship backup-push ...`. */
  shown: string;
  stdout: string;
  stderr: string;
}

export async function walship(host: DemoHost, args: readonly string[], env: Record<string, string>, cwd: string, signal: AbortSignal): Promise<WalshipRun> {
  const { stdout, stderr } = await exec(host.node, [host.walshipBin, ...args], { env, cwd, signal });
  return { shown: describeCommand('walship', args), stdout, stderr };
}
