import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chownToPostgres, pgExec } from '../../test/support/pg-cluster.ts';
import { dirBytes } from './disk.ts';

// pgBackRest as the baseline: a posix repo in a temp dir on the same disk,
// lz4, process-max=2, as the measured-facts notes configure it. Every file
// (config, repo, spool, logs, locks) lives under one postgres-owned root, so
// one rm removes it all and runs never see each other's state.

export const STANZA = 'bench';

export interface PgBackRestSetup {
  /** The root under which repo/, spool*, log/ and lock/ live. */
  root: string;
  repoPath: string;
}

export interface PgBackRestConfigOptions {
  /** The data directory archive-push reads from or archive-get writes into (pg1-path). */
  pgData: string;
  /** Socket dir and port: only stanza-create connects. */
  socketDir?: string;
  port?: number;
  async: boolean;
  /** archive-get-queue-max, e.g. '128MiB' (pgBackRest's default); only used with async. */
  getQueueMax?: string;
  /** A name for this config, so that push and get configs of one repo have separate spools and locks. */
  name: string;
}

export function pgBackRestRepo(root: string): PgBackRestSetup {
  return { root, repoPath: join(root, 'repo') };
}

/** Writes a config file for one use of the repo and returns its path. */
export async function writePgBackRestConfig(setup: PgBackRestSetup, options: PgBackRestConfigOptions): Promise<string> {
  const dir = join(setup.root, options.name);
  await mkdir(dir, { recursive: true });
  await chownToPostgres(dir);
  const lines = [
    '[global]',
    `repo1-path=${setup.repoPath}`,
    'compress-type=lz4',
    'process-max=2',
    `log-path=${join(dir, 'log')}`,
    `lock-path=${join(dir, 'lock')}`,
    `spool-path=${join(dir, 'spool')}`,
    `archive-async=${options.async ? 'y' : 'n'}`,
    ...(options.async && options.getQueueMax ? [`archive-get-queue-max=${options.getQueueMax}`] : []),
    'log-level-console=warn',
    // pgBackRest's default file log level: what a user runs with.
    'log-level-file=info',
    '',
    `[${STANZA}]`,
    `pg1-path=${options.pgData}`,
    ...(options.socketDir ? [`pg1-socket-path=${options.socketDir}`] : []),
    ...(options.port ? [`pg1-port=${options.port}`] : []),
    '',
  ];
  const path = join(dir, 'pgbackrest.conf');
  await writeFile(path, lines.join('\n'));
  await chownToPostgres(path);
  return path;
}

export function archivePushCommand(config: string): string {
  return `pgbackrest --config=${config} --stanza=${STANZA} archive-push %p`;
}

export function archiveGetCommand(config: string): string {
  return `pgbackrest --config=${config} --stanza=${STANZA} archive-get %f "%p"`;
}

/** stanza-create connects to the running cluster, so run it after start. */
export async function stanzaCreate(config: string): Promise<void> {
  await pgExec('/usr/bin/pgbackrest', [`--config=${config}`, `--stanza=${STANZA}`, 'stanza-create']);
}

/**
 * The async archive-push/archive-get workers outlive the command that forked
 * them (they drain the queue, then exit). Before their directories are
 * removed, end the ones that belong to this root, found by the root's path
 * in their command line: by pid, never by name, so other runs are untouched.
 */
export async function stopPgBackRestWorkers(root: string): Promise<number> {
  let stopped = 0;
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('pgbackrest\0') || cmdline.includes('/pgbackrest\0')) {
      if (cmdline.includes(`${root}/`)) {
        try {
          process.kill(Number(entry), 'SIGTERM');
          stopped++;
        } catch {
          // Already gone.
        }
      }
    }
  }
  return stopped;
}

/** Stored bytes under the repo's archive, for the compression ratio. */
export function repoArchiveBytes(setup: PgBackRestSetup): Promise<number> {
  return dirBytes(join(setup.repoPath, 'archive'));
}
