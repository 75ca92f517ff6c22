import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentProcess } from '../../test/support/agent-process.ts';
import { postgresOwnedDir, type PgCluster } from '../../test/support/pg-cluster.ts';
import type { Cleanup } from '../lib/cleanup.ts';
import { dirBytes } from '../lib/disk.ts';
import {
  archiveGetCommand,
  archivePushCommand,
  pgBackRestRepo,
  repoArchiveBytes,
  stanzaCreate,
  stopPgBackRestWorkers,
  writePgBackRestConfig,
  type PgBackRestSetup,
} from '../lib/pgbackrest.ts';
import { installClient, standaloneFetchCommand, standalonePushCommand, startAgent, storeEnv } from '../lib/walship.ts';

// The configurations compared, each behind the same small interface so the
// archive and recovery runs treat them identically: how to set up its
// store, which archive_command or restore_command PostgreSQL runs, and
// what to tear down.

export type ArchiveId = 'walship-agent' | 'walship-cli' | 'pgbackrest-sync' | 'pgbackrest-async';
export type RecoveryId = 'walship-agent' | 'walship-cli' | 'pgbackrest-get-sync' | 'pgbackrest-get-async';

/** What a recovery needs from an archive run: where the archive is. */
export interface ArchiveLocation {
  walshipStore?: string;
  pgbackrest?: PgBackRestSetup;
}

export interface ArchiveSubject {
  id: ArchiveId;
  label: string;
  /** Environment of the postmaster, hence of archive_command. */
  postmasterEnv: Record<string, string>;
  /** After initdb, before start: returns archive_command (unwrapped). */
  attach(cluster: PgCluster): Promise<string>;
  afterStart(cluster: PgCluster): Promise<void>;
  /** After the cluster stopped: ends helper processes. */
  detach(): Promise<void>;
  storedBytes(): Promise<number>;
  location: ArchiveLocation;
  agent?: AgentProcess;
}

export interface RecoverySubject {
  id: RecoveryId;
  label: string;
  postmasterEnv: Record<string, string>;
  /** Given the restored data directory (before start): returns restore_command (unwrapped). */
  attach(dataDir: string): Promise<string>;
  detach(): Promise<void>;
  agent?: AgentProcess;
}

async function tempRoot(cleanup: Cleanup, prefix: string): Promise<string> {
  const dir = await postgresOwnedDir(prefix);
  cleanup.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** agentEnv: extra settings for the agent (e.g. WALG_UPLOAD_CONCURRENCY, UV_THREADPOOL_SIZE), from --agent-env. */
export async function walshipAgentArchive(cleanup: Cleanup, agentEnv: Record<string, string> = {}): Promise<ArchiveSubject> {
  const store = await tempRoot(cleanup, 'walship-bench-store-');
  const subject: ArchiveSubject = {
    id: 'walship-agent',
    label: 'walship agent',
    postmasterEnv: {},
    location: { walshipStore: store },
    async attach(cluster) {
      const shared = await installClient(cleanup);
      subject.agent = await startAgent(cleanup, { ...storeEnv(store), PGDATA: cluster.dataDir, WALSHIP_SPOOL_DIR: shared.spool, ...agentEnv });
      return `${shared.client} wal-push %p`;
    },
    afterStart: async () => undefined,
    async detach() {
      await subject.agent?.stop();
    },
    storedBytes: () => dirBytes(join(store, 'wal_005')),
  };
  return subject;
}

export async function walshipCliArchive(cleanup: Cleanup): Promise<ArchiveSubject> {
  const store = await tempRoot(cleanup, 'walship-bench-store-');
  return {
    id: 'walship-cli',
    label: 'walship wal-push (CLI)',
    postmasterEnv: storeEnv(store),
    location: { walshipStore: store },
    attach: async () => standalonePushCommand(),
    afterStart: async () => undefined,
    detach: async () => undefined,
    storedBytes: () => dirBytes(join(store, 'wal_005')),
  };
}

export async function pgBackRestArchive(cleanup: Cleanup, async: boolean): Promise<ArchiveSubject> {
  const root = await tempRoot(cleanup, 'walship-bench-pgbr-');
  const setup = pgBackRestRepo(root);
  // Registered after the root's removal, so it runs before it.
  cleanup.defer('stop pgBackRest workers', () => stopPgBackRestWorkers(root));
  let config = '';
  return {
    id: async ? 'pgbackrest-async' : 'pgbackrest-sync',
    label: async ? 'pgBackRest async push' : 'pgBackRest sync push',
    postmasterEnv: {},
    location: { pgbackrest: setup },
    async attach(cluster) {
      config = await writePgBackRestConfig(setup, { name: 'push', pgData: cluster.dataDir, socketDir: cluster.socketDir, port: cluster.port, async });
      return archivePushCommand(config);
    },
    afterStart: () => stanzaCreate(config),
    async detach() {
      await stopPgBackRestWorkers(root);
    },
    storedBytes: () => repoArchiveBytes(setup),
  };
}

export function walshipAgentRecovery(cleanup: Cleanup, location: ArchiveLocation, agentEnv: Record<string, string> = {}): RecoverySubject {
  const store = location.walshipStore!;
  const subject: RecoverySubject = {
    id: 'walship-agent',
    label: 'walship agent (prefetch)',
    postmasterEnv: {},
    async attach(dataDir) {
      const shared = await installClient(cleanup);
      // A restore pod's agent: nothing to upload, only requests to serve and segments to prefetch.
      subject.agent = await startAgent(cleanup, { ...storeEnv(store), PGDATA: dataDir, WALSHIP_SPOOL_DIR: shared.spool, WALSHIP_UPLOAD_AHEAD: 'false', ...agentEnv });
      return `${shared.client} wal-fetch %f %p`;
    },
    async detach() {
      await subject.agent?.stop();
    },
  };
  return subject;
}

export function walshipCliRecovery(location: ArchiveLocation): RecoverySubject {
  return {
    id: 'walship-cli',
    label: 'walship wal-fetch (CLI)',
    postmasterEnv: storeEnv(location.walshipStore!),
    attach: async () => standaloneFetchCommand(),
    detach: async () => undefined,
  };
}

/** archive-get reads the repo written by an archive run, with its own config (pg1-path is the restored cluster). */
export function pgBackRestRecovery(location: ArchiveLocation, async: boolean, getQueueMax: string): RecoverySubject {
  const setup = location.pgbackrest!;
  const name = async ? 'get-async' : 'get-sync';
  return {
    id: async ? 'pgbackrest-get-async' : 'pgbackrest-get-sync',
    label: async ? `pgBackRest async get (queue ${getQueueMax})` : 'pgBackRest sync get',
    postmasterEnv: {},
    async attach(dataDir) {
      const config = await writePgBackRestConfig(setup, { name, pgData: dataDir, async, getQueueMax });
      return archiveGetCommand(config);
    },
    async detach() {
      await stopPgBackRestWorkers(join(setup.root, name));
    },
  };
}
