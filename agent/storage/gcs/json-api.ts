import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FileMetadata } from '@google-cloud/storage';
import { BATCH_MAX, batchDelete, type BatchOutcome } from './batch.ts';
import type { Answer, Exchange } from './http.ts';
import { forEachBounded } from './parallel.ts';

// The calls walship makes most (stat, list, delete, small uploads and all
// downloads), spoken directly to the JSON API. @google-cloud/storage's own
// path for them, teeny-request over node-fetch 2, takes no AbortSignal;
// when one download is cancelled it destroys the process-wide keep-alive
// agent, which leaves the other downloads in flight hanging; and at about
// 150 KB allocated per call it grows V8's young generation to its maximum
// in a burst of small uploads. The library still provides the credentials
// and the resumable uploads.

/** Sends one exchange: credentials and the timeout are the sender's business. */
export type Send = <T>(x: Omit<Exchange, 'timeout'>) => Promise<Answer<T>>;

export type ObjectResource = FileMetadata;

/** Only the fields the driver reads, so a 1000-object page stays small. */
const OBJECT_FIELDS = 'name,generation,size,updated,timeCreated,md5Hash,metadata';
const LIST_FIELDS = `items(${OBJECT_FIELDS}),nextPageToken`;

export interface NewObject {
  contentType: string;
  metadata: Record<string, string>;
  /** Base64 MD5 of the body: GCS refuses the upload, storing nothing, if the bytes it got differ. */
  md5Hash: string;
}

export interface JsonApi {
  getObject(name: string, signal?: AbortSignal): Promise<ObjectResource>;
  listObjects(prefix: string, maxResults: number, pageToken: string | undefined, signal?: AbortSignal, startOffset?: string): Promise<{ items: ObjectResource[]; nextPageToken?: string }>;
  /** Deletes many, in batches; each name's own answer is returned rather than thrown. */
  deleteObjects(names: readonly string[], signal?: AbortSignal): Promise<BatchOutcome[]>;
  /** A simple (multipart) upload; ifGenerationMatch 0 means "only if absent". */
  insertObject(name: string, body: Buffer, object: NewObject, ifGenerationMatch: number | undefined, signal?: AbortSignal): Promise<ObjectResource>;
  /** The body of one generation, from `range.start` to `range.end` inclusive if given. */
  readObject(name: string, generation: string, range: { start: number; end: number } | undefined, signal: AbortSignal): Promise<Readable>;
}

/** Batches sent at once by deleteObjects, and single deletes where there are no batches. */
const BATCHES_IN_FLIGHT = 4;
const DELETES_IN_FLIGHT = 16;

export function createJsonApi(send: Send, apiEndpoint: string, bucket: string): JsonApi {
  const objects = `${apiEndpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o`;
  const objectUrl = (name: string) => `${objects}/${encodeURIComponent(name)}`;
  // Some emulators lack the batch endpoint; after one says so, delete one by one.
  let batches = true;

  const deleteEach = async (names: readonly string[], signal?: AbortSignal) => {
    const outcomes: BatchOutcome[] = [];
    await forEachBounded(
      names,
      DELETES_IN_FLIGHT,
      async (name) => {
        try {
          await send({ url: objectUrl(name), method: 'DELETE', responseType: 'text', signal });
          outcomes.push({ name, status: 204 });
        } catch (err) {
          const response = (err as { response?: { status?: unknown; data?: unknown } }).response;
          if (typeof response?.status !== 'number') throw err;
          outcomes.push({ name, status: response.status, body: response.data });
        }
      },
      signal,
    );
    return outcomes;
  };

  return {
    async getObject(name, signal) {
      return (await send<ObjectResource>({ url: objectUrl(name), params: { fields: OBJECT_FIELDS }, responseType: 'json', signal })).data;
    },

    async listObjects(prefix, maxResults, pageToken, signal, startOffset) {
      const params = { prefix, maxResults, fields: LIST_FIELDS, ...(pageToken === undefined ? {} : { pageToken }), ...(startOffset === undefined ? {} : { startOffset }) };
      const { data } = await send<{ items?: ObjectResource[]; nextPageToken?: string }>({ url: objects, params, responseType: 'json', signal });
      return { items: data.items ?? [], ...(data.nextPageToken ? { nextPageToken: data.nextPageToken } : {}) };
    },

    async deleteObjects(names, signal) {
      const groups: string[][] = [];
      for (let i = 0; i < names.length; i += BATCH_MAX) groups.push(names.slice(i, i + BATCH_MAX));
      const outcomes: BatchOutcome[] = [];
      await forEachBounded(
        groups,
        BATCHES_IN_FLIGHT,
        async (group) => {
          if (batches) {
            try {
              outcomes.push(...(await batchDelete(send, apiEndpoint, bucket, group, signal)));
              return;
            } catch (err) {
              const status = (err as { response?: { status?: unknown } }).response?.status;
              if (status !== 404 && status !== 405 && status !== 501) throw err;
              batches = false;
            }
          }
          outcomes.push(...(await deleteEach(group, signal)));
        },
        signal,
      );
      return outcomes;
    },

    async insertObject(name, body, object, ifGenerationMatch, signal) {
      const boundary = `walship_${randomBytes(12).toString('hex')}`;
      const resource = JSON.stringify({ name, ...object });
      const multipart = [
        `--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${resource}\r\n--${boundary}\r\nContent-Type: ${object.contentType}\r\n\r\n`,
        body,
        `\r\n--${boundary}--\r\n`,
      ];
      const params = { uploadType: 'multipart', name, fields: OBJECT_FIELDS, ...(ifGenerationMatch === undefined ? {} : { ifGenerationMatch }) };
      const { data } = await send<ObjectResource>({
        url: `${apiEndpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o`,
        method: 'POST',
        params,
        headers: { 'Content-Type': `multipart/related; boundary=${boundary}` },
        body: multipart,
        responseType: 'json',
        signal,
      });
      return data;
    },

    async readObject(name, generation, range, signal) {
      const { data } = await send<Readable>({
        url: objectUrl(name),
        params: { alt: 'media', generation },
        // identity: walship's objects are compressed by walship, and a
        // transcoded body would not match the stored MD5 or byte range.
        headers: { 'Accept-Encoding': 'identity', ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) },
        responseType: 'stream',
        signal,
      });
      return data;
    },
  };
}
