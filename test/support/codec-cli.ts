// Runs the Debian lz4/zstd/gzip command-line tools on files, for interop tests.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `tool args...`; rejects with its stderr when it exits non-zero. */
export async function runTool(tool: string, args: string[]): Promise<void> {
  await run(tool, args, { maxBuffer: 16 << 20 });
}
