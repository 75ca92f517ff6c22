import { createCodec } from '../codec/index.ts';
import type { Config } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { archivedSegmentHeader } from './archived-identity.ts';
import { ClusterIdentity } from './cluster-identity.ts';
import type { WalArchive } from './push.ts';

/**
 * Everything wal-push and wal-fetch need, built once per process (once per
 * agent, not per segment). `log` is where a replaced WAL file is reported,
 * when WALG_PREVENT_WAL_OVERWRITE=false allows that; without it, nothing is
 * ever replaced.
 */
export async function openWalArchive(config: Config, store: StorageDriver, log?: Pick<Logger, 'warn'>): Promise<WalArchive> {
  const archive: WalArchive = {
    store,
    codec: await createCodec(config.codec),
    encryptedByDefault: config.codec.pgp !== undefined,
    identity: new ClusterIdentity(store, async (key, name, signal) => {
      const info = await store.stat(key, signal ? { signal } : {});
      if (info === undefined || Object.keys(info.metadata ?? {}).some((k) => k.toLowerCase().startsWith('walship-'))) return undefined;
      return (await archivedSegmentHeader(archive, info, name))?.systemIdentifier.toString();
    }),
    ...(config.wal.preventOverwrite || log === undefined ? {} : { overwrite: { warn: (message: string, details: Record<string, unknown>) => log.warn(details, message) } }),
  };
  return archive;
}

