import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { WalshipError } from '../../errors.ts';
import { writeLine } from '../io.ts';
import type { DrillHost } from '../../drill/run.ts';
import type { CommandContext } from '../context.ts';
import type { CommandRunner } from '../program.ts';

// restore-drill: a real restore, recovery and start of a backup in a
// scratch directory, checked, stopped and deleted. The report goes to
// stdout whatever happened; a failed drill then ends with DRILL_FAILED.

const WALSHIP_BIN = fileURLToPath(new URL('../../../bin/walship', import.meta.url));

/** What a drill takes from this process: the executable restore_command runs, PATH, the environment its walship reads. */
export function drillHost(ctx: CommandContext): DrillHost {
  const env = Object.fromEntries(Object.entries(ctx.io.env).filter((e): e is [string, string] => e[1] !== undefined));
  return { node: process.execPath, walshipBin: WALSHIP_BIN, path: env.PATH ?? '/usr/bin:/bin', env, tmpRoot: tmpdir() };
}

interface DrillFlags {
  json?: boolean;
  amcheck?: boolean;
  query?: string;
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
}

export function registerDrillCommand(program: Command, run: CommandRunner): void {
  program
    .command('restore-drill')
    .description("restore a backup into a scratch directory, recover it through walship's own wal-fetch, start it with PostgreSQL on a private socket (no TCP), check it, stop it and delete it; reports the proven RPO and RTO")
    .argument('[backup]', 'backup name, or LATEST', 'LATEST')
    .option('--json', 'the report as JSON')
    .option('--amcheck', 'CREATE EXTENSION amcheck and bt_index_check every btree index of every database')
    .option('--query <sql>', 'a query that must return one row whose first column is true')
    .option('--target-time <time>', 'recover to this time instead of the end of the archive')
    .option('--target-lsn <lsn>', 'recover to this LSN')
    .option('--target-name <name>', 'recover to this restore point')
    .action((backup: string, flags: DrillFlags) =>
      run(async (ctx) => {
        const { config, driver } = await ctx.store();
        const log = await ctx.logger(config);
        try {
          const [{ restoreDrill }, { formatDrillReport }, { openWalArchive }] = await Promise.all([import('../../drill/run.ts'), import('../../drill/report.ts'), import('../../wal/archive.ts')]);
          const target = { time: flags.targetTime, lsn: flags.targetLsn, name: flags.targetName };
          const given = Object.fromEntries(Object.entries(target).filter(([, v]) => v !== undefined));
          const report = await restoreDrill(
            config,
            await openWalArchive(config, driver),
            drillHost(ctx),
            { backup, amcheck: flags.amcheck === true, ...(flags.query === undefined ? {} : { query: flags.query }), ...(Object.keys(given).length ? { target: given } : {}) },
            log,
          );
          if (flags.json) writeLine(ctx.io.stdout, JSON.stringify(report, null, 2));
          else for (const line of formatDrillReport(report)) writeLine(ctx.io.stdout, line);
          if (report.failure) throw new WalshipError('DRILL_FAILED', `restore drill of ${report.backup} failed at ${report.failure.step}: ${report.failure.code}: ${report.failure.message}`);
        } finally {
          await driver.close();
        }
      }),
    );
}
