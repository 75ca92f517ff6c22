import type { Command } from 'commander';
import { WalshipError } from '../../errors.ts';
import { formatBytes } from '../format.ts';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';

// backup-verify: reads a backup back without restoring it. The report
// (text or JSON) goes to stdout whatever it found; a failure then ends the
// command with BACKUP_CORRUPT, or BACKUP_WAL_INCOMPLETE when only WAL is missing.

export function registerVerifyCommands(program: Command, run: CommandRunner): void {
  program
    .command('backup-verify')
    .description("read a backup back from the store without restoring it: every part decodes, every file matches the manifest's checksum, page checksums (when the cluster has them), and the WAL from its start to its stop is in the store and passes wal-fetch's checks")
    .argument('[backup]', 'backup name, or LATEST', 'LATEST')
    .option('--all', 'every complete backup')
    .option('--json', 'a JSON array, one report per backup')
    .action((backup: string, flags: { all?: boolean; json?: boolean }) =>
      run(async (ctx) => {
        if (flags.all && backup !== 'LATEST') throw new WalshipError('USAGE', `backup-verify: give a backup name (${backup}) or --all, not both`);
        const { config, driver } = await ctx.store();
        const log = await ctx.logger(config);
        const progress = await ctx.progress('verify');
        try {
          const [{ backupVerify }, { failureCode, describeProblem }, { openWalArchive }] = await Promise.all([
            import('../../verify/backup-verify.ts'),
            import('../../verify/report.ts'),
            import('../../wal/archive.ts'),
          ]);
          const reports = await backupVerify(
            await openWalArchive(config, driver),
            {
              backup: flags.all ? 'ALL' : backup,
              concurrency: config.transfer.downloadConcurrency,
              encryptedByDefault: config.codec.pgp !== undefined,
              onProgress: (done, total) => progress.update(done, total),
            },
            log,
          );
          progress.stop();
          if (flags.json) writeLine(ctx.io.stdout, JSON.stringify(reports, null, 2));
          else {
            if (reports.length === 0) writeLine(ctx.io.stdout, 'no backups to verify');
            for (const r of reports) {
              writeLine(
                ctx.io.stdout,
                `${r.backup}: ${r.status} (${r.parts} parts, ${r.files} files, ${formatBytes(r.bytes)}; page checksums ${r.pageChecksums}; WAL ${r.wal.from}..${r.wal.to}, ${r.wal.files} files; ${r.seconds.toFixed(1)} s)`,
              );
              for (const p of r.problems) writeLine(ctx.io.stdout, `  ${describeProblem(p)}`);
            }
          }
          const code = failureCode(reports);
          if (code !== undefined) {
            const failed = reports.filter((r) => r.status === 'failure');
            const first = failed[0]!.problems[0]!;
            throw new WalshipError(code, `${failed.map((r) => r.backup).join(', ')} failed verification: ${failed.reduce((n, r) => n + r.problems.length, 0)} problem(s), the first: ${describeProblem(first)}`);
          }
        } finally {
          progress.stop();
          await driver.close();
        }
      }),
    );
}
