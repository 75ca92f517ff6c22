import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { WalshipError } from '../../errors.ts';
import type { CommandRunner } from '../program.ts';

// `walship demo`: the first command to run. The CLI hands the demo what it
// would otherwise take from the process: PATH, the temp directory, this
// Node.js and walship's executable, and Ctrl-C.

const WALSHIP_BIN = fileURLToPath(new URL('../../../bin/walship', import.meta.url));

function positiveInteger(flag: string, max: number) {
  return (text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new WalshipError('USAGE', `${flag} ${text}: expected a whole number from 1 to ${max}`);
    return n;
  };
}

export function registerDemoCommand(program: Command, run: CommandRunner): void {
  program
    .command('demo')
    .description(
      'run the whole job on a throwaway PostgreSQL cluster: archive WAL through the agent to a local store, back up, restore to a point in time into a second cluster, and check the data; then remove everything',
    )
    .option('--keep', 'leave the clusters and agents running and the files in place, and say where they are')
    .option('--scale <n>', 'pgbench scale factor (100,000 accounts, about 15 MiB, each)', positiveInteger('--scale', 1000), 5)
    .option('--seconds <n>', 'seconds of pgbench traffic between the backup and the recovery target', positiveInteger('--seconds', 3600), 3)
    .option('--pg-bin <dir>', 'the PostgreSQL binaries (default: the newest /usr/lib/postgresql/*/bin, else pg_config --bindir)')
    .action((opts: { keep?: boolean; scale: number; seconds: number; pgBin?: string }) =>
      run(async (ctx) => {
        const { runDemo } = await import('../../demo/run.ts');
        const stdout = ctx.io.stdout as NodeJS.WriteStream;
        return runDemo(
          {
            out: ctx.io.stdout,
            interactive: stdout.isTTY === true,
            path: ctx.io.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
            tmpRoot: tmpdir(),
            node: process.execPath,
            walshipBin: WALSHIP_BIN,
            untilStop: ctx.io.untilStop(),
          },
          { keep: opts.keep === true, scale: opts.scale, seconds: opts.seconds, ...(opts.pgBin !== undefined ? { pgBin: opts.pgBin } : {}) },
        );
      }),
    );
}
