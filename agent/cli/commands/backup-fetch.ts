import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { TargetAction } from '../../backup/recovery-conf.ts';
import { WalshipError } from '../../errors.ts';
import { formatBytes } from '../format.ts';
import { writeLine } from '../io.ts';
import type { CommandRunner } from '../program.ts';

interface FetchFlags {
  delta?: boolean;
  tablespaceMapping: string[];
  restoreSpec?: string;
  targetTime?: string;
  targetLsn?: string;
  targetXid?: string;
  targetName?: string;
  targetImmediate?: boolean;
  targetAction: string;
  standby?: boolean;
  recovery: boolean;
  restoreCommand?: string;
}

/** --tablespace-mapping OID=DIR flags and a --restore-spec file ({"tablespaces": {"<oid>": "<dir>"}}) into one map. */
async function tablespaceMapping(flags: FetchFlags): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  if (flags.restoreSpec !== undefined) {
    let spec: { tablespaces?: Record<string, string> };
    try {
      spec = JSON.parse(await readFile(flags.restoreSpec, 'utf8')) as typeof spec;
    } catch (err) {
      throw new WalshipError('USAGE', `--restore-spec ${flags.restoreSpec}: cannot read it as JSON (${(err as Error).message})`);
    }
    for (const [oid, dir] of Object.entries(spec.tablespaces ?? {})) map.set(oid, resolve(dir));
  }
  for (const pair of flags.tablespaceMapping) {
    const m = /^(\d+)=(.+)$/.exec(pair);
    if (!m) throw new WalshipError('USAGE', `--tablespace-mapping ${pair}: expected OID=DIRECTORY`);
    map.set(m[1]!, resolve(m[2]!));
  }
  return map;
}

export function registerBackupFetch(program: Command, run: CommandRunner): void {
  program
    .command('backup-fetch')
    .description('restore a backup into a directory and prepare recovery, so the directory is a cluster ready to start')
    .argument('<dest>', 'the data directory to restore into (empty, or an existing cluster for a delta restore)')
    .argument('<backup>', 'backup name, or LATEST (with --target-time: the latest that finished before it)')
    .option('--delta', 'rewrite only files whose checksum differs (the default when dest is not empty)')
    .option('--tablespace-mapping <OID=DIR>', 'restore a tablespace elsewhere (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--restore-spec <file>', 'JSON file: {"tablespaces": {"<oid>": "<dir>"}}')
    .option('--target-time <time>', 'recover to this time')
    .option('--target-lsn <lsn>', 'recover to this LSN')
    .option('--target-xid <xid>', 'recover to this transaction')
    .option('--target-name <name>', 'recover to this restore point (pg_create_restore_point)')
    .option('--target-immediate', 'recover only until the backup is consistent')
    .option('--target-action <action>', 'at the target: promote, pause or shutdown', 'promote')
    .option('--standby', 'write standby.signal: start as a standby that keeps fetching WAL')
    .option('--no-recovery', 'restore the files only; write no recovery settings')
    .option('--restore-command <command>', "restore_command to write (default: walship-client beside the spool directory: '<dir>/walship-client wal-fetch %f %p')")
    .action((destArg: string, backup: string, flags: FetchFlags) =>
      run(async (ctx) => {
        if (!['promote', 'pause', 'shutdown'].includes(flags.targetAction)) throw new WalshipError('USAGE', `--target-action ${flags.targetAction}: expected promote, pause or shutdown`);
        const mapping = await tablespaceMapping(flags);
        const { config, driver } = await ctx.store();
        const log = await ctx.logger(config);
        const progress = await ctx.progress('restore');
        try {
          const [{ backupFetch }, { openWalArchive }] = await Promise.all([import('../../backup/fetch.ts'), import('../../wal/archive.ts')]);
          const restoreCommand = flags.restoreCommand ?? `${join(dirname(config.agent.spoolDir), 'walship-client')} wal-fetch %f %p`;
          const result = await backupFetch(
            await openWalArchive(config, driver),
            {
              dest: resolve(destArg),
              backup,
              delta: flags.delta === true,
              tablespaceMapping: mapping,
              ...(flags.recovery
                ? {
                    recovery: {
                      time: flags.targetTime,
                      lsn: flags.targetLsn,
                      xid: flags.targetXid,
                      name: flags.targetName,
                      immediate: flags.targetImmediate === true,
                      action: flags.targetAction as TargetAction,
                      standby: flags.standby === true,
                      restoreCommand,
                    },
                  }
                : {}),
              concurrency: config.transfer.downloadConcurrency,
              onProgress: (done, total) => progress.update(done, total),
            },
            log,
            config.codec.pgp !== undefined,
          );
          writeLine(
            ctx.io.stdout,
            `${result.backup.name} restored into ${resolve(destArg)} (${result.mode}: ${result.filesWritten} files written, ${formatBytes(result.bytesWritten)}; ${result.filesKept} kept; ${result.filesRemoved} removed)`,
          );
        } finally {
          progress.stop();
          await driver.close();
        }
      }),
    );
}
