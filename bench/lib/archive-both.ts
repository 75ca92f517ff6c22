import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { postgresOwnedDir, writeOwned, type PgCluster } from '../../test/support/pg-cluster.ts';
import type { Cleanup } from './cleanup.ts';
import { archivePushCommand, pgBackRestRepo, stanzaCreate, stopPgBackRestWorkers, type PgBackRestSetup } from './pgbackrest.ts';
import { switchSegment, waitArchivedThrough } from './postgres.ts';
import { standalonePushCommand } from './walship.ts';

/**
 * archive_command for a bench that compares walship with pgBackRest: both
 * tools push each segment at the same time, so neither backup's wait for
 * its stop segment includes the other's push (`a && b` would make
 * pgBackRest wait for walship's Node start-up). Fails unless both succeed.
 */
export async function bothPushScript(dir: string, walshipPush: string, pgbackrestPush: string): Promise<string> {
  // pgBackRest's backup refuses an archive_command that does not contain "pgbackrest" (and walship warns without "walship").
  const path = join(dir, 'archive-push-walship-and-pgbackrest.sh');
  const to = (cmd: string) => cmd.replace('%p', '"$1"');
  await writeOwned(path, `#!/bin/sh\n${to(walshipPush)} &\nw=$!\n${to(pgbackrestPush)}\np=$?\nwait $w\nws=$?\n[ $p -eq 0 ] && [ $ws -eq 0 ]\n`);
  await chmod(path, 0o755);
  return `${path} %p`;
}

/**
 * A pgbench database for a bench beside pgBackRest: generated with
 * wal_level = minimal (no WAL for the load itself), then restarted
 * archiving to both tools, with pgBackRest's stanza made and a first
 * segment archived by each (one-time work that belongs in no figure).
 * Returns the seconds the generation took.
 */
export async function generateArchivingSource(source: PgCluster, scale: number, dir: string, pgbrConfig: string, log: (line: string) => void): Promise<number> {
  await source.start();
  const t = performance.now();
  log(`  generating pgbench -s ${scale} (wal_level minimal) ...`);
  await source.pgbench(['-i', '-s', String(scale), '-I', 'dtGvp', '-q']);
  const generateSeconds = (performance.now() - t) / 1000;
  log(`  generated in ${generateSeconds.toFixed(1)} s`);
  await source.stop();
  await source.setConf({
    wal_level: 'replica',
    max_wal_senders: 4,
    archive_mode: 'on',
    archive_command: await bothPushScript(dir, standalonePushCommand(), archivePushCommand(pgbrConfig)),
    archive_timeout: 0,
    max_wal_size: '4GB',
    checkpoint_timeout: '1h',
  });
  await source.start();
  await stanzaCreate(pgbrConfig);
  await waitArchivedThrough(source, await switchSegment(source), 60_000);
  return generateSeconds;
}

/** A bench's own directories, removed at its end: its work area, walship's filesystem store and pgBackRest's repository. */
export async function benchDirs(cleanup: Cleanup, name: string): Promise<{ work: string; store: string; pgbrRoot: string; pgbr: PgBackRestSetup }> {
  const tempRoot = async (prefix: string) => {
    const dir = await postgresOwnedDir(prefix);
    cleanup.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const work = await tempRoot(`walship-bench-${name}-`);
  const store = await tempRoot(`walship-bench-${name}-store-`);
  const pgbrRoot = await tempRoot(`walship-bench-${name}-pgbr-`);
  // Registered after the root's removal, so it runs before it.
  cleanup.defer('stop pgBackRest workers', () => stopPgBackRestWorkers(pgbrRoot));
  return { work, store, pgbrRoot, pgbr: pgBackRestRepo(pgbrRoot) };
}
