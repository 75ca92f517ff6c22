import { copyFile, chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { Config } from '../../config/types.ts';
import { WalshipError } from '../../errors.ts';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';
import { drillHost } from './drill.ts';

const CLIENT_SCRIPT = fileURLToPath(new URL('../../../bin/walship-client', import.meta.url));

export function registerAgentCommands(program: Command, run: CommandRunner): void {
  program
    .command('agent')
    .description('run the sidecar agent: serves walship-client requests, uploads WAL ahead of archive_command, prefetches WAL for recovery, serves /metrics, /healthz and /readyz; SIGHUP reloads the configuration, SIGTERM stops gracefully')
    .action(() =>
      run(async (ctx) => {
        const requireStore = async (load: Promise<Config>) => {
          const config = await load;
          if (!config.store) throw new WalshipError('CONFIG_MISSING', 'no store configured: set one of WALG_FILE_PREFIX, WALG_S3_PREFIX, WALG_GS_PREFIX or WALG_AZ_PREFIX');
          return config;
        };
        const [{ runDaemon }, { createLogger }] = await Promise.all([import('../../daemon/run.ts'), import('../../log.ts')]);
        await runDaemon({
          loadConfig: () => requireStore(ctx.config()),
          reloadConfig: () => requireStore(ctx.reloadConfig()),
          untilStop: () => ctx.io.untilStop(),
          onReload: (cb) => ctx.io.onReload(cb),
          makeLogger: (config) => createLogger(config.log.level, ctx.io.stderr),
          drillHost: drillHost(ctx),
        });
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
