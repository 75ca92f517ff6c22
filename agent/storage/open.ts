import type { StoreConfig, TransferConfig } from '../config/types.ts';
import type { StorageDriver } from './driver.ts';
import { withResilience } from './resilient.ts';

// Drivers are loaded on demand: a filesystem user never pays for loading
// the AWS, Google and Azure SDKs, which matters for per-segment commands.

/** The bare driver, with no deadlines or retries around it. */
export async function createDriver(store: StoreConfig, transfer: TransferConfig): Promise<StorageDriver> {
  switch (store.kind) {
    case 'fs':
      return (await import('./fs/driver.ts')).createFsDriver(store);
    case 's3':
      return (await import('./s3/driver.ts')).createS3Driver(store, transfer);
    case 'gcs':
      return (await import('./gcs/driver.ts')).createGcsDriver(store, transfer);
    case 'azure':
      return (await import('./azure/driver.ts')).createAzureDriver(store, transfer);
  }
}

/** The driver every command uses: deadlines and bounded retries around the bare one. */
export async function openStore(store: StoreConfig, transfer: TransferConfig): Promise<StorageDriver> {
  return withResilience(await createDriver(store, transfer), transfer);
}
