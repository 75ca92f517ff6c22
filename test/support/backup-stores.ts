import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreConfig } from '../../agent/config/types.ts';
import { startAzurite } from './azurite.ts';
import { startGcsHarness } from './gcs-harness.ts';
import { chownToPostgres, postgresOwnedDir } from './pg-cluster.ts';
import { startS3rver } from './s3rver.ts';
import { storeEnv } from './store-env.ts';

// The stores base backups are tested against, each started fresh and
// described by the WAL-G-style environment a user's Secret would hold.

export interface BackupStore {
  name: string;
  config: StoreConfig;
  /** The environment that configures the store for the CLI and for PostgreSQL's archive/restore commands. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export type BackupStoreFactory = { name: string; start(prefix: string): Promise<BackupStore> };

export const filesystemStore: BackupStoreFactory = {
  name: 'filesystem',
  async start() {
    // postgres runs archive_command, so the archive directory is postgres's.
    const root = await postgresOwnedDir('walship-backup-store-');
    const config: StoreConfig = { kind: 'fs', root };
    return { name: 'filesystem', config, env: storeEnv(config), stop: () => rm(root, { recursive: true, force: true }) };
  },
};

export const s3rverStore: BackupStoreFactory = {
  name: 's3rver',
  async start(prefix) {
    const emulator = await startS3rver();
    const config = emulator.config(prefix);
    return { name: 's3rver', config, env: storeEnv(config), stop: () => emulator.stop() };
  },
};

export const azuriteStore: BackupStoreFactory = {
  name: 'azurite',
  async start(prefix) {
    const emulator = await startAzurite();
    const config = emulator.config(prefix);
    return { name: 'azurite', config, env: storeEnv(config), stop: () => emulator.stop() };
  },
};

export const gcsStore: BackupStoreFactory = {
  name: 'gcs test server',
  async start(prefix) {
    const harness = await startGcsHarness();
    // The key file is the test process's; archive_command and restore_command run as postgres and must read it.
    const keyDir = await postgresOwnedDir('walship-gcs-key-');
    const keyFile = join(keyDir, 'key.json');
    await copyFile(harness.keyFile, keyFile);
    await chownToPostgres(keyFile);
    const config = harness.config(prefix, keyFile);
    return {
      name: 'gcs test server',
      config,
      env: storeEnv(config),
      async stop() {
        await harness.stop();
        await rm(keyDir, { recursive: true, force: true });
      },
    };
  },
};

/** Every store the round trip runs against. */
export const ALL_BACKUP_STORES: readonly BackupStoreFactory[] = [filesystemStore, s3rverStore, azuriteStore, gcsStore];
