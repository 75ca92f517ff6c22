import type { GcsStoreConfig, TransferConfig } from '../../config/types.ts';
import { notFound, type ErrorContext } from '../classify.ts';
import type { GetResult, ListPage, ObjectInfo, StorageDriver } from '../driver.ts';
import { putOperations } from '../put-operations.ts';
import { joinKey } from '../keys.ts';
import { createGcsClient, type GcsClient } from './client.ts';
import { openDownload } from './download.ts';
import { gcsError, isObjectNotFound } from './errors.ts';
import { toObjectInfo } from './object-info.ts';
import { uploadObject } from './upload.ts';

// Google Cloud Storage. Deadlines and retries are the resilience
// wrapper's; every request here carries its signal and none is retried.

/** The JSON API's largest page. */
const MAX_PAGE = 1000;

export function createGcsDriver(store: GcsStoreConfig, transfer: TransferConfig): StorageDriver {
  const location = `gs://${store.bucket}${store.prefix === '' ? '' : `/${store.prefix}`}`;
  const nameOf = (key: string) => joinKey(store.prefix, key);
  const keyOf = (name: string) => (store.prefix === '' ? name : name.slice(store.prefix.length + 1));
  const ctx = (op: string, key?: string): ErrorContext => ({ op, location, ...(key === undefined ? {} : { key }) });

  // Made on first use: checking the credentials file reads it, and
  // createGcsDriver is synchronous. A failure is not kept, so a key file
  // mounted late (a Kubernetes secret) is found by the next call.
  let client: Promise<GcsClient> | undefined;
  const gcs = () => {
    client ??= createGcsClient(store, transfer).catch((err: unknown) => {
      client = undefined;
      throw err;
    });
    return client;
  };

  /** Runs a call, turning the libraries' errors into walship's and an abort into its reason. */
  async function call<T>(op: string, key: string | undefined, signal: AbortSignal | undefined, work: (c: GcsClient) => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    try {
      return await work(await gcs());
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw gcsError(ctx(op, key), err);
    }
  }

  return {
    kind: 'gcs',
    location,

    ...putOperations((op, key, body, options, ifAbsent) => call(op, key, options.signal, (c) => uploadObject(c, nameOf(key), body, options, ifAbsent))),

    get(key, options = {}): Promise<GetResult> {
      return call('get', key, options.signal, async (c) => {
        // The metadata first, in its own round trip: the media response does
        // not carry user metadata, and a missing key fails here rather than
        // in the body. Reading the generation it names keeps bytes and
        // metadata together: if the key is overwritten between the two
        // requests, the read fails with STORE_NOT_FOUND.
        let resource;
        try {
          resource = await c.api.getObject(nameOf(key), options.signal);
        } catch (err) {
          if (isObjectNotFound(err)) throw notFound(ctx('get', key));
          throw err;
        }
        const classify = (err: unknown) => (isObjectNotFound(err) ? notFound(ctx('get', key)) : gcsError(ctx('get', key), err));
        const body = await openDownload(c.api, nameOf(key), resource, options.range, `${location}/${key}`, classify, options.signal);
        return { info: toObjectInfo(key, resource), body };
      });
    },

    stat(key, options = {}): Promise<ObjectInfo | undefined> {
      return call('stat', key, options.signal, async (c) => {
        try {
          return toObjectInfo(key, await c.api.getObject(nameOf(key), options.signal));
        } catch (err) {
          if (isObjectNotFound(err)) return undefined;
          throw err;
        }
      });
    },

    listPage(prefix, options = {}): Promise<ListPage> {
      return call('list', prefix, options.signal, async (c) => {
        const pageSize = Math.min(options.pageSize ?? MAX_PAGE, MAX_PAGE);
        // GCS's startOffset includes the name itself. Keys hold no control
        // characters (keys.ts), so the first name after K is at least K + ' '.
        const startOffset = options.startAfter === undefined || options.token !== undefined ? undefined : `${nameOf(options.startAfter)} `;
        const page = await c.api.listObjects(nameOf(prefix), pageSize, options.token, options.signal, startOffset);
        return {
          objects: page.items.map((o) => toObjectInfo(keyOf(o.name!), o)),
          ...(page.nextPageToken === undefined ? {} : { nextToken: page.nextPageToken }),
        };
      });
    },

    async deleteMany(keys, options = {}) {
      if (keys.length === 0) return;
      await call('delete', undefined, options.signal, async (c) => {
        const outcomes = await c.api.deleteObjects(keys.map(nameOf), options.signal);
        for (const outcome of outcomes) {
          if (outcome.status < 300) continue;
          // The answer as the error it would have been on its own.
          const err = { status: outcome.status, response: { status: outcome.status, data: outcome.body }, message: `HTTP ${outcome.status}` };
          if (!isObjectNotFound(err)) throw gcsError(ctx('delete', keyOf(outcome.name)), err);
        }
      });
    },

    // Requests go through Node's process-wide keep-alive agents, whose idle
    // sockets do not hold the process open; using them, rather than agents
    // of our own, lets NODE_USE_ENV_PROXY apply. Nothing to release.
    async close() {},
  };
}
