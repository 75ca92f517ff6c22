import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openWalArchive } from '../../wal/archive.ts';
import { NO_CHECKSUM_WARNING, fetchWalFile } from '../../wal/fetch.ts';
import { holeWarning } from '../../wal/archive-hole.ts';
import { fetchWithin, pushWithin } from '../../wal/deadlines.ts';
import { fetchFailure } from '../../wal/fetch-failure.ts';
import { holeAnswer } from '../../wal/hole-policy.ts';
import { pushWalFile } from '../../wal/push.ts';
import { parseWalFileName } from '../../wal/names.ts';
import { catalogue } from '../../errors.ts';
import { writeLine } from '../io.ts';
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
        const name = resolve(path).split('/').pop() ?? '';
        parseWalFileName(name);
        const { config, driver } = await ctx.store();
        try {
          const archive = await openWalArchive(config, driver, config.wal.preventOverwrite ? undefined : await ctx.logger(config));
          await pushWithin(name, config.wal.pushTimeoutMs, (signal) => pushWalFile(archive, resolve(path), { signal }));
        } finally {
          await driver.close();
        }
      }),
    );

  program
    .command('wal-fetch')
    .description("restore one WAL file: restore_command = 'walship wal-fetch %f %p'; exits 74 when the archive has no such file (its end), 126 when the file cannot be restored or is missing from the middle of the archive")
    .argument('<name>', 'the WAL file name (%f)')
    .argument('<dest>', 'where to write it (%p)')
    .action((name: string, dest: string) =>
      run(async (ctx) => {
        parseWalFileName(name);
        try {
          const { config, driver } = await ctx.store();
          try {
            const target = resolve(dest);
            const { holes, why } = holeAnswer(config.wal.fetchHole, target);
            const archive = await openWalArchive(config, driver);
            const onNoChecksum = async (file: string, key: string) => (await ctx.logger(config)).warn({ file, key }, NO_CHECKSUM_WARNING);
            const result = await fetchWithin(name, config.wal.fetchTimeoutMs, (signal) => fetchWalFile(archive, name, target, { holes, signal, onNoChecksum }));
            if (result.outcome === 'fetched') return 0;
            // Not in the archive is how recovery learns it reached the end: no noise in the log, unless it is a hole.
            if (result.hole) writeLine(ctx.io.stderr, holeWarning(result.hole, why));
            return catalogue.STORE_NOT_FOUND.exit;
          } finally {
            await driver.close();
          }
        } catch (err) {
          throw fetchFailure(name, err);
        }
      }),
    );
}
