import { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3StoreConfig, TransferConfig } from '../../config/types.ts';
import { notFound, storeError, type ErrorContext } from '../classify.ts';
import type { ObjectInfo, StorageDriver } from '../driver.ts';
import { putOperations, type WriteObject } from '../put-operations.ts';
import { destroyOnAbort, objectSize, rangeHeader } from '../http-object.ts';
import { joinKey } from '../keys.ts';
import { partPlan, uploadInParts } from '../part-upload.ts';
import { createS3Client } from './client.ts';
import { isNotFound, isPreconditionFailed, s3Error } from './errors.ts';
import { s3PartSink, s3PartSize } from './upload.ts';

// The bare S3 driver: one SDK call per operation, errors mapped to the
// catalogue. Deadlines and retries are resilient.ts's job.

/** DeleteObjects takes at most 1,000 keys per request. */
const DELETE_BATCH = 1_000;
/** ListObjectsV2 returns at most 1,000 keys per page. */
const MAX_PAGE = 1_000;

export function createS3Driver(store: S3StoreConfig, transfer: TransferConfig): StorageDriver {
  const client = createS3Client(store, transfer);
  const bucket = store.bucket;
  const prefix = store.prefix;
  const location = `s3://${bucket}${prefix === '' ? '' : '/' + prefix}`;
  const strip = prefix === '' ? 0 : prefix.length + 1;
  const ctx = (op: string, key?: string): ErrorContext => ({ op, location, ...(key === undefined ? {} : { key }) });

  /** Resolves false when ifAbsent and an object was already there. */
  const write: WriteObject = async (op, key, body, options, ifAbsent) => {
    try {
      const sink = s3PartSink({
        client,
        store,
        bucket,
        objectKey: joinKey(prefix, key),
        ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
        ifAbsent,
        abandonTimeoutMs: transfer.requestTimeoutMs,
      });
      await uploadInParts(body(), partPlan(s3PartSize, transfer.uploadConcurrency, options), sink);
      return true;
    } catch (err) {
      if (ifAbsent && isPreconditionFailed(err)) return false;
      throw s3Error(ctx(op, key), err);
    }
  };

  return {
    kind: 's3',
    location,

    ...putOperations(write),

    async get(key, options = {}) {
      try {
        const out = await client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: joinKey(prefix, key),
            ...(options.range === undefined ? {} : { Range: rangeHeader(options.range) }),
          }),
          { abortSignal: options.signal },
        );
        if (!(out.Body instanceof Readable)) throw storeError(ctx('get', key), new Error('S3 returned no body stream'));
        if (options.range !== undefined && out.ContentRange === undefined) {
          // HTTP lets a server ignore Range and send the whole object; handing
          // that on as the requested bytes would corrupt the reader's data.
          out.Body.destroy();
          throw storeError(ctx('get', key), new Error('the store ignored the byte range'), { code: 'STORE_REJECTED' });
        }
        return {
          body: destroyOnAbort(out.Body, options.signal),
          info: {
            key,
            size: objectSize(out.ContentRange, out.ContentLength),
            lastModified: out.LastModified ?? new Date(0),
            metadata: out.Metadata ?? {},
          },
        };
      } catch (err) {
        if (isNotFound(err)) throw notFound(ctx('get', key));
        throw s3Error(ctx('get', key), err);
      }
    },

    async stat(key, options = {}) {
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: joinKey(prefix, key) }), { abortSignal: options.signal });
        return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0), metadata: out.Metadata ?? {} };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw s3Error(ctx('stat', key), err);
      }
    },

    async listPage(listPrefix, options = {}) {
      try {
        const out = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: joinKey(prefix, listPrefix),
            MaxKeys: Math.min(options.pageSize ?? MAX_PAGE, MAX_PAGE),
            ...(options.token === undefined ? {} : { ContinuationToken: options.token }),
            ...(options.startAfter === undefined || options.token !== undefined ? {} : { StartAfter: joinKey(prefix, options.startAfter) }),
          }),
          { abortSignal: options.signal },
        );
        const objects: ObjectInfo[] = (out.Contents ?? []).map((o) => ({
          key: (o.Key ?? '').slice(strip),
          size: o.Size ?? 0,
          lastModified: o.LastModified ?? new Date(0),
        }));
        return out.IsTruncated && out.NextContinuationToken ? { objects, nextToken: out.NextContinuationToken } : { objects };
      } catch (err) {
        throw s3Error(ctx('list', listPrefix), err);
      }
    },

    async deleteMany(keys, options = {}) {
      // Batches go one after another: deletion is rare (retention), and a
      // failed batch stops the rest rather than racing them.
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        const batch = keys.slice(i, i + DELETE_BATCH);
        let failed: { Key?: string; Code?: string; Message?: string } | undefined;
        try {
          const out = await client.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: batch.map((k) => ({ Key: joinKey(prefix, k) })), Quiet: true },
            }),
            { abortSignal: options.signal },
          );
          // DeleteObjects answers 200 even when keys failed; the failures are in the body.
          failed = out.Errors?.find((e) => e.Code !== 'NoSuchKey');
        } catch (err) {
          throw s3Error(ctx('delete'), err);
        }
        if (failed) {
          const key = (failed.Key ?? '').slice(strip);
          throw s3Error(ctx('delete', key), Object.assign(new Error(failed.Message ?? 'delete failed'), {
            name: failed.Code,
            $metadata: { httpStatusCode: statusOfDeleteError(failed.Code) },
          }));
        }
      }
    },

    async close() {
      client.destroy();
    },
  };
}

/** A per-key DeleteObjects error carries no status; give it the one S3 uses for that code. */
function statusOfDeleteError(code: string | undefined): number {
  switch (code) {
    case 'AccessDenied':
      return 403;
    case 'SlowDown':
      return 503;
    case 'InternalError':
      return 500;
    default:
      return 400;
  }
}
