import type { Command } from 'commander';
import { WalshipError } from '../../errors.ts';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';
import { formatBackupTable, formatBytes } from '../format.ts';

// backup-push, backup-list and backup-show. Implementations load on demand:
// the pg driver and tar are not needed by wal-push.

function parseUserData(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new WalshipError('USAGE', `--add-user-data: not valid JSON: ${text}`);
  }
}

export function registerBackupCommands(program: Command, run: CommandRunner): void {
  program
    .command('backup-push')
    .description('take an online base backup of a running cluster (primary or standby) into the store')
    .argument('[pgdata]', 'the data directory (default: PGDATA)')
    .option('--permanent', 'retention never deletes this backup')
    .option('--verify', 'check page checksums while reading and report corrupt blocks')
    .option('--add-user-data <json>', 'JSON recorded with the backup')
    .action((pgdataArg: string | undefined, opts: { permanent?: boolean; verify?: boolean; addUserData?: string }) =>
      run(async (ctx) => {
        const userData = parseUserData(opts.addUserData);
        const { config, driver } = await ctx.store();
        const pgdata = pgdataArg ?? config.pg.pgdata;
        if (pgdata === undefined) throw new WalshipError('CONFIG_MISSING', 'backup-push needs the data directory: give it as an argument or set PGDATA');
        const log = await ctx.logger(config);
        const progress = await ctx.progress('backup');
        try {
          const [{ backupPush }, { openWalArchive }, { acquireBackupLock }] = await Promise.all([
            import('../../backup/push.ts'),
            import('../../wal/archive.ts'),
            import('../../backup/lock.ts'),
          ]);
          const lock = await acquireBackupLock(driver);
          let sentinel;
          try {
            sentinel = await backupPush(
              config,
              await openWalArchive(config, driver),
              {
                pgdata,
                permanent: opts.permanent === true,
                userData,
                verify: opts.verify === true,
                partBytes: config.backup.partBytes,
                walTimeoutMs: config.backup.walTimeoutMs,
                onProgress: (done, total) => progress.update(done, total),
              },
              log,
            );
          } finally {
            progress.stop();
            await lock.release();
          }
          writeLine(ctx.io.stdout, `${sentinel.name}: ${formatBytes(sentinel.dataBytes)} of data stored as ${formatBytes(sentinel.storedBytes)} in ${((Date.parse(sentinel.finishTime) - Date.parse(sentinel.startTime)) / 1000).toFixed(1)} s`);
          if (sentinel.corruptBlocks && sentinel.corruptBlocks.length > 0) {
            for (const b of sentinel.corruptBlocks.slice(0, 50)) writeLine(ctx.io.stderr, `corrupt block: ${b.path} block ${b.block}`);
            throw new WalshipError('BACKUP_CORRUPT', `${sentinel.corruptBlocks.length} data pages failed their checksum (backup ${sentinel.name} was kept; it holds the pages as they are on disk)`);
          }
        } finally {
          await driver.close();
        }
      }),
    );

  program
    .command('backup-list')
    .description('list complete backups, oldest first')
    .option('--json', "a JSON array, one object per backup, with WAL-G's field names (backup_name, time, wal_file_name) beside walship's")
    .option('--detail', "more columns; with --json, WAL-G's detail fields too (start_time, finish_time, start_lsn, ...)")
    .option('--foreign', "list instead the backups of other database systems than the archive's (written by a cluster pointed at this prefix by mistake)")
    .action((opts: { json?: boolean; detail?: boolean; foreign?: boolean }) =>
      run(async (ctx) => {
        const { driver } = await ctx.store();
        try {
          const [{ readCatalogue, describeForeign }, { listEntry }] = await Promise.all([import('../../backup/catalog.ts'), import('../../backup/walg/list-entry.ts')]);
          const catalogue = await readCatalogue(driver);
          // Other clusters' backups are listed apart, so that neither a reader nor a script takes one for this cluster's.
          for (const line of describeForeign(catalogue)) writeLine(ctx.io.stderr, line);
          // WAL-G's backups of this cluster are listed with walship's, oldest first, marked by tool.
          const byStart = (a: { startTime: string; name: string }, b: { startTime: string; name: string }) => Date.parse(a.startTime) - Date.parse(b.startTime) || a.name.localeCompare(b.name);
          const shown = opts.foreign ? catalogue.foreign : [...catalogue.backups, ...catalogue.walg].sort(byStart);
          if (opts.json) writeLine(ctx.io.stdout, JSON.stringify(shown.map((b) => listEntry(b, opts.detail === true)), null, 2));
          else {
            for (const line of formatBackupTable(shown, opts.detail === true)) writeLine(ctx.io.stdout, line);
            if (!opts.foreign && catalogue.foreign.length > 0) {
              writeLine(ctx.io.stdout, '');
              writeLine(ctx.io.stdout, `foreign backups (other database systems than this archive's ${catalogue.systemIdentifier}; never LATEST, never deleted by retention):`);
              for (const line of formatBackupTable(catalogue.foreign, opts.detail === true)) writeLine(ctx.io.stdout, line);
            }
          }
        } finally {
          await driver.close();
        }
      }),
    );

  program
    .command('backup-show')
    .description('show one backup (or LATEST) in full, as JSON')
    .argument('<name>', 'backup name or LATEST')
    .option('--files', 'include the file list')
    .action((name: string, opts: { files?: boolean }) =>
      run(async (ctx) => {
        const { config, driver } = await ctx.store();
        try {
          const [{ showBackup, readManifest, walgNotRestorable }, { createCodec }] = await Promise.all([import('../../backup/catalog.ts'), import('../../codec/index.ts')]);
          const sentinel = await showBackup(driver, name);
          // walship reads no file list of WAL-G's (files_metadata.json) yet.
          if (opts.files && sentinel.tool === 'wal-g') throw walgNotRestorable(driver, sentinel);
          if (!opts.files) {
            writeLine(ctx.io.stdout, JSON.stringify(sentinel, null, 2));
            return;
          }
          const manifest = await readManifest(driver, await createCodec(config.codec), sentinel, config.codec.pgp !== undefined);
          const { pgControl: _c, ...shown } = manifest;
          writeLine(ctx.io.stdout, JSON.stringify(shown, null, 2));
        } finally {
          await driver.close();
        }
      }),
    );
}
