import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openWalArchive } from '../../wal/archive.ts';
import { NO_CHECKSUM_WARNING, fetchWalFile } from '../../wal/fetch.ts';
import { fetchFailure } from '../../wal/fetch-failure.ts';
import { pushWalFile } from '../../wal/push.ts';
import { parseWalFileName } from '../../wal/names.ts';
import { catalogue } from '../../errors.ts';
import type { CommandRunner } from '../program.ts';

// The in-process forms of archive_command and restore_command, for hosts
// where walship itself is installed (a VM, an init container, a laptop).
// In a Kubernetes pod, bin/walship-client hands the same requests to the agent.

export function registerWalCommands(program: Command, run: CommandRunner): void {
  program
    .command('wal-push')
    .description("archive one WAL file: archive_command = 'walship wal-push %p'")
    .argument('<path>', 'the WAL file (%p)')
    .action((path: string) =>
      run(async (ctx) => {
        parseWalFileName(resolve(path).split('/').pop() ?? '');
        const { config, driver } = await ctx.store();
        try {
          await pushWalFile(await openWalArchive(config, driver), resolve(path));
        } finally {
          await driver.close();
        }
      }),
    );

  program
    .command('wal-fetch')
    .description("restore one WAL file: restore_command = 'walship wal-fetch %f %p'; exits 74 when the archive has no such file")
    .argument('<name>', 'the WAL file name (%f)')
    .argument('<dest>', 'where to write it (%p)')
    .action((name: string, dest: string) =>
      run(async (ctx) => {
        parseWalFileName(name);
        try {
          const { config, driver } = await ctx.store();
          try {
            const onNoChecksum = async (file: string, key: string) => (await ctx.logger(config)).warn({ file, key }, NO_CHECKSUM_WARNING);
            const result = await fetchWalFile(await openWalArchive(config, driver), name, resolve(dest), { onNoChecksum });
            // Not in the archive is how recovery learns it reached the end: no noise in the log.
            return result.outcome === 'not-found' ? catalogue.STORE_NOT_FOUND.exit : 0;
          } finally {
            await driver.close();
          }
        } catch (err) {
          throw fetchFailure(name, err);
        }
      }),
    );
}
