import type { Readable } from 'node:stream';
import type { AzureStoreConfig, TransferConfig } from '../../config/types.ts';
import { notFound, storeError, type ErrorContext } from '../classify.ts';
import type { ListPage, ObjectInfo, StorageDriver } from '../driver.ts';
import { putOperations, type WriteObject } from '../put-operations.ts';
import { destroyOnAbort, objectSize } from '../http-object.ts';
import { joinKey } from '../keys.ts';
import { partPlan, uploadInParts } from '../part-upload.ts';
import { createContainerClient } from './client.ts';
import { deleteBlobs } from './delete.ts';
import { azureError, isBlobExists, isBlobNotFound } from './errors.ts';
import { fromAzureMetadata, toAzureMetadata } from './metadata.ts';
import { azureBlockSink, azureBlockSize } from './upload.ts';

// The bare Azure Blob driver: one SDK call per operation, errors mapped to
// the catalogue. Deadlines and retries are resilient.ts's job.

/** List Blobs returns at most 5,000 names per page. */
const MAX_PAGE = 5_000;

export function createAzureDriver(store: AzureStoreConfig, transfer: TransferConfig): StorageDriver {
  const { container, account } = createContainerClient(store);
  const prefix = store.prefix;
  const location = `azure://${account}/${store.container}${prefix === '' ? '' : '/' + prefix}`;
  const strip = prefix === '' ? 0 : prefix.length + 1;
  const ctx = (op: string, key?: string): ErrorContext => ({ op, location, ...(key === undefined ? {} : { key }) });
  const blob = (key: string) => container.getBlockBlobClient(joinKey(prefix, key));

  /** Resolves false when ifAbsent and a blob was already there. */
  const write: WriteObject = async (op, key, body, options, ifAbsent) => {
    try {
      const metadata = options.metadata === undefined ? undefined : toAzureMetadata(options.metadata);
      const sink = azureBlockSink(blob(key), metadata, ifAbsent);
      await uploadInParts(body(), partPlan(azureBlockSize, transfer.uploadConcurrency, options), sink);
      return true;
    } catch (err) {
      if (ifAbsent && isBlobExists(err)) return false;
      throw azureError(ctx(op, key), err);
    }
  };

  return {
    kind: 'azure',
    location,

    ...putOperations(write),

    async get(key, options = {}) {
      try {
        const range = options.range;
        const count = range?.end === undefined ? undefined : range.end - range.start + 1;
        // maxRetryRequests 0: otherwise the SDK silently re-requests the rest of a broken body.
        const out = await blob(key).download(range?.start ?? 0, count, {
          maxRetryRequests: 0,
          ...(options.signal === undefined ? {} : { abortSignal: options.signal }),
        });
        const body = out.readableStreamBody as Readable | undefined;
        if (body === undefined) throw storeError(ctx('get', key), new Error('Azure returned no body stream'));
        return {
          body: destroyOnAbort(body, options.signal),
          info: {
            key,
            size: objectSize(out.contentRange, out.contentLength),
            lastModified: out.lastModified ?? new Date(0),
            metadata: fromAzureMetadata(out.metadata),
          },
        };
      } catch (err) {
        if (isBlobNotFound(err)) throw notFound(ctx('get', key));
        throw azureError(ctx('get', key), err);
      }
    },

    async stat(key, options = {}) {
      try {
        const out = await blob(key).getProperties(options.signal === undefined ? {} : { abortSignal: options.signal });
        return { key, size: out.contentLength ?? 0, lastModified: out.lastModified ?? new Date(0), metadata: fromAzureMetadata(out.metadata) };
      } catch (err) {
        if (isBlobNotFound(err)) return undefined;
        throw azureError(ctx('stat', key), err);
      }
    },

    async listPage(listPrefix, options = {}) {
      const onePage = async (token: string | undefined): Promise<ListPage> => {
        const pages = container
          .listBlobsFlat({
            prefix: joinKey(prefix, listPrefix),
            includeMetadata: true,
            ...(options.signal === undefined ? {} : { abortSignal: options.signal }),
          })
          .byPage({
            maxPageSize: Math.min(options.pageSize ?? MAX_PAGE, MAX_PAGE),
            ...(token === undefined ? {} : { continuationToken: token }),
          });
        const next = await pages.next();
        const page = next.done ? undefined : next.value;
        const objects: ObjectInfo[] = (page?.segment.blobItems ?? []).map((item) => ({
          key: item.name.slice(strip),
          size: item.properties.contentLength ?? 0,
          lastModified: item.properties.lastModified,
          metadata: fromAzureMetadata(item.metadata),
        }));
        // The last page carries an empty token.
        return page?.continuationToken ? { objects, nextToken: page.continuationToken } : { objects };
      };
      try {
        const after = options.token === undefined ? options.startAfter : undefined;
        if (after === undefined) return await onePage(options.token);
        // List Blobs has no start-after: pages are read from the prefix's
        // start, and the keys up to `after` dropped, until one follows it.
        let token: string | undefined;
        for (;;) {
          const page = await onePage(token);
          const objects = page.objects.filter((o) => o.key > after);
          if (objects.length > 0 || page.nextToken === undefined) return { ...page, objects };
          token = page.nextToken;
        }
      } catch (err) {
        throw azureError(ctx('list', listPrefix), err);
      }
    },

    async deleteMany(keys, options = {}) {
      try {
        await deleteBlobs(
          container,
          keys.map((k) => joinKey(prefix, k)),
          options.signal,
        );
      } catch (err) {
        throw azureError(ctx('delete'), err);
      }
    },

    async close() {
      // The SDK's keep-alive agent is shared and holds no timers; nothing to release.
    },
  };
}
