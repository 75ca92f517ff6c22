import { Argument, type Command } from 'commander';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';

// `walship wal-verify integrity timeline`: WAL-G's command and JSON output
// (agent/verify/ holds the checks; the agent runs the same periodically).

export function registerWalVerifyCommand(program: Command, run: CommandRunner): void {
  program
    .command('wal-verify')
    .description("check the archive against the cluster, as WAL-G's wal-verify: integrity (every segment from the oldest backup to the cluster's position is stored, on the right timelines; missing ones as ranges) and timeline (the archive's highest timeline is the cluster's); status OK, WARNING or FAILURE, and FAILURE exits 65")
    .addArgument(new Argument('<checks...>', 'integrity, timeline, or both').choices(['integrity', 'timeline']))
    .option('--json', "print WAL-G's JSON: {\"integrity\": {\"status\", \"details\"}, \"timeline\": {...}}")
    .action((checks: ('integrity' | 'timeline')[], opts: { json?: boolean }) =>
      run(async (ctx) => {
        const { config, driver } = await ctx.store();
        try {
          const [{ connectPg }, { openWalArchive }, { readClusterPosition }, { runWalVerify }, { reportLines, failureError }] = await Promise.all([
            import('../../pg/connection.ts'),
            import('../../wal/archive.ts'),
            import('../../verify/cluster-position.ts'),
            import('../../verify/wal-verify.ts'),
            import('../../verify/report-text.ts'),
          ]);
          const client = await connectPg(config.pg);
          let position;
          try {
            position = await readClusterPosition(client);
          } finally {
            await client.end().catch(() => undefined);
          }
          const archive = await openWalArchive(config, driver);
          const { report } = await runWalVerify({ archive, position, uploadConcurrency: config.transfer.uploadConcurrency, ...(config.pg.pgdata ? { pgdata: config.pg.pgdata } : {}) }, checks);
          if (opts.json) writeLine(ctx.io.stdout, JSON.stringify(report, null, 2));
          else for (const line of reportLines(report)) writeLine(ctx.io.stdout, line);
          const failure = failureError(report);
          if (failure) throw failure;
        } finally {
          await driver.close();
        }
      }),
    );
}
