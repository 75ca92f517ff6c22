import {
  AnonymousCredential,
  BlobServiceClient,
  newPipeline,
  StorageSharedKeyCredential,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { AzureStoreConfig } from '../../config/types.ts';
import { WalshipError } from '../../errors.ts';

// The container client as walship needs it: one try per request (resilient.ts
// retries, in one place, with one budget) and whichever of the three
// credential forms the configuration holds.
//
// No SDK-level client timeout is set: the SDK offers only a per-request total
// deadline that cannot be set from the pipeline options, so the caller's
// AbortSignal (resilient.ts's deadline) is the one timeout.

const pipelineOptions: StoragePipelineOptions = {
  retryOptions: { maxTries: 1 },
  keepAliveOptions: { enable: true },
};

export interface AzureContainer {
  container: ContainerClient;
  /** Account name, for printing the location. */
  account: string;
}

export function createContainerClient(store: AzureStoreConfig): AzureContainer {
  const service = serviceClient(store);
  return { container: service.getContainerClient(store.container), account: service.accountName };
}

function serviceClient(store: AzureStoreConfig): BlobServiceClient {
  if (store.connectionString !== undefined) {
    try {
      return BlobServiceClient.fromConnectionString(store.connectionString, pipelineOptions);
    } catch (err) {
      // The SDK's message may quote the string, which holds the key.
      throw new WalshipError('CONFIG_INVALID', 'the Azure connection string is not valid', { cause: err instanceof Error ? err.name : undefined });
    }
  }
  const endpoint = (store.endpoint ?? defaultEndpoint(store.account)).replace(/\/+$/, '');
  if (store.accessKey !== undefined) {
    if (store.account === undefined) throw new WalshipError('CONFIG_MISSING', 'an Azure access key needs the storage account name');
    return new BlobServiceClient(endpoint, newPipeline(new StorageSharedKeyCredential(store.account, store.accessKey), pipelineOptions));
  }
  if (store.sasToken !== undefined) {
    return new BlobServiceClient(`${endpoint}?${store.sasToken.replace(/^\?/, '')}`, newPipeline(new AnonymousCredential(), pipelineOptions));
  }
  throw new WalshipError('CONFIG_MISSING', 'Azure storage needs a connection string, an account access key, or a SAS token');
}

function defaultEndpoint(account: string | undefined): string {
  if (account === undefined) throw new WalshipError('CONFIG_MISSING', 'Azure storage needs the account name or an endpoint');
  return `https://${account}.blob.core.windows.net`;
}
