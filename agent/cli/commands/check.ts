import type { Command } from 'commander';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';

// `walship check`: the archiving chain end to end, printed step by step
// (agent/check/ holds the steps; the agent runs the same at start-up).

export function registerCheckCommand(program: Command, run: CommandRunner): void {
  program
    .command('check')
    .description('check the whole archiving chain: the configuration, that the store answers and takes writes, that PostgreSQL answers, that archive_mode and archive_command archive through walship, and that a forced WAL switch reaches the store in time; exits non-zero at the first failure, naming the cause')
    .option('--json', 'print the steps as one JSON object')
    .option('--no-switch', 'do not force a WAL switch (pg_switch_wal()) on a primary')
    .action((opts: { json?: boolean; switch: boolean }) =>
      run(async (ctx) => {
        const { config, driver } = await ctx.store();
        try {
          const { runCheck, checkFailure } = await import('../../check/run-check.ts');
          const results = await runCheck(config, driver, {
            switchWal: opts.switch,
            onStep: (r) => {
              if (!opts.json) writeLine(ctx.io.stdout, `${r.status === 'ok' ? 'ok     ' : r.status === 'skipped' ? 'skipped' : 'FAILED '} ${r.step}: ${r.detail}`);
            },
          });
          const failure = checkFailure(results);
          if (opts.json) writeLine(ctx.io.stdout, JSON.stringify({ ok: failure === undefined, steps: results }, null, 2));
          if (failure) throw failure;
        } finally {
          await driver.close();
        }
      }),
    );
}
