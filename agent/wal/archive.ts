import { createCodec } from '../codec/index.ts';
import type { Config } from '../config/types.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { ClusterIdentity } from './cluster-identity.ts';
import type { WalArchive } from './push.ts';

/** Everything wal-push and wal-fetch need, built once per process (once per agent, not per segment). */
export async function openWalArchive(config: Config, store: StorageDriver): Promise<WalArchive> {
  return {
    store,
    codec: await createCodec(config.codec),
    encryptedByDefault: config.codec.pgp !== undefined,
    identity: new ClusterIdentity(store),
  };
}

