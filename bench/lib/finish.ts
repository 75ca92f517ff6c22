import { writeFile } from 'node:fs/promises';
import type { Cleanup } from './cleanup.ts';

// How every bench ends: the JSON record beside it and the table on stdout,
// or the failure on stderr (unless an interrupt stopped it); clean-up always.

export async function publishResults(path: string, report: unknown, table: string): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${table}\nresults: ${path}\n`);
}

export function reportFailure(err: unknown, cleanup: Cleanup, log: (line: string) => void): void {
  process.exitCode = 1;
  if (!cleanup.interrupted) log(`bench failed: ${(err as Error).stack ?? String(err)}`);
}
