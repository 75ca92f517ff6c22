import { copyFile, chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { createLogger } from '../../log.ts';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';

const CLIENT_SCRIPT = fileURLToPath(new URL('../../../bin/walship-client', import.meta.url));

export function registerAgentCommands(program: Command, run: CommandRunner): void {
  program
    .command('agent')
    .description('run the sidecar agent: serves walship-client requests, uploads WAL ahead of archive_command, prefetches WAL for recovery')
    .action(() =>
      run(async (ctx) => {
        const { config, driver } = await ctx.store();
        const log = createLogger(config.log.level, ctx.io.stderr);
        const { startAgent } = await import('../../daemon/agent.ts');
        const agent = await startAgent(config, driver, log);
        await ctx.io.untilStop();
        log.info('stopping: finishing the work under way');
        await agent.stop();
        await driver.close();
        log.info('stopped');
      }),
    );

  program
    .command('install-client')
    .description('copy walship-client (POSIX sh, for the postgres container) into a directory, e.g. a shared emptyDir, with spool/ beside it')
    .argument('<dir>', 'target directory')
    .action((dir: string) =>
      run(async (ctx) => {
        await mkdir(join(dir, 'spool'), { recursive: true });
        const target = join(dir, 'walship-client');
        await copyFile(CLIENT_SCRIPT, target);
        await chmod(target, 0o755);
        writeLine(ctx.io.stdout, `installed ${target}; archive_command = '${target} wal-push %p', restore_command = '${target} wal-fetch %f %p'`);
      }),
    );
}
