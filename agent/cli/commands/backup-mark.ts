import type { Command } from 'commander';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';

// backup-mark: permanent backups are never deleted by retention, nor is the
// WAL they need. The mark lives in the sentinel (see backup/retention-mark.ts).

export function registerBackupMark(program: Command, run: CommandRunner): void {
  program
    .command('backup-mark')
    .description('mark a backup permanent: retain, before, window and garbage never delete it or the WAL it needs (--impermanent clears the mark)')
    .argument('<name>', 'backup name')
    .option('--impermanent', 'clear the mark: retention may delete the backup again')
    .action((name: string, opts: { impermanent?: boolean }) =>
      run(async (ctx) => {
        const { driver } = await ctx.store();
        try {
          const { markBackup } = await import('../../backup/retention-mark.ts');
          const permanent = opts.impermanent !== true;
          const { changed } = await markBackup(driver, name, permanent);
          const state = permanent ? (changed ? 'is now permanent' : 'was already permanent') : changed ? 'is no longer permanent' : 'was not permanent';
          writeLine(ctx.io.stdout, `${name} ${state}`);
        } finally {
          await driver.close();
        }
      }),
    );
}
