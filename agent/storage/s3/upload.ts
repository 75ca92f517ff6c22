import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import type { S3StoreConfig } from '../../config/types.ts';
import type { ObjectMetadata } from '../driver.ts';
import { growingPartSize, MiB } from '../parts.ts';
import type { PartSink } from '../part-upload.ts';

// Writes to S3: a single PutObject for a body that fits in one part, else a
// multipart upload. Conditional writes put If-None-Match on the request that
// makes the object visible: PutObject, or CompleteMultipartUpload.

/**
 * 16 MiB parts: a WAL segment (16 MiB, or less compressed) is one PutObject,
 * and 2,000 parts of each size before doubling keeps an unknown-length body
 * within S3's 10,000 parts up to about 970 GiB.
 */
export const s3PartSize = growingPartSize(16 * MiB, 2_000);

export interface S3Target {
  client: S3Client;
  store: S3StoreConfig;
  bucket: string;
  /** Full object key, store prefix included. */
  objectKey: string;
  metadata?: ObjectMetadata;
  ifAbsent: boolean;
  /** Deadline for the clean-up request, which runs after the upload's own signal has fired. */
  abandonTimeoutMs: number;
}

/** Storage class and encryption, which S3 takes on the request that creates the object. */
function creationParams(store: S3StoreConfig, metadata: ObjectMetadata | undefined) {
  return {
    ...(metadata === undefined ? {} : { Metadata: metadata }),
    ...(store.storageClass === undefined ? {} : { StorageClass: store.storageClass as StorageClass }),
    ...(store.sse === undefined ? {} : { ServerSideEncryption: store.sse as ServerSideEncryption }),
    ...(store.sseKmsKeyId === undefined ? {} : { SSEKMSKeyId: store.sseKmsKeyId }),
  };
}

export function s3PartSink(t: S3Target): PartSink<CompletedPart> {
  const object = { Bucket: t.bucket, Key: t.objectKey };
  const condition = t.ifAbsent ? { IfNoneMatch: '*' } : {};
  let uploadId: string | undefined;

  return {
    async putWhole(data, abortSignal) {
      await t.client.send(
        new PutObjectCommand({ ...object, ...creationParams(t.store, t.metadata), ...condition, Body: data, ContentLength: data.length }),
        { abortSignal },
      );
    },

    async begin(abortSignal) {
      const out = await t.client.send(new CreateMultipartUploadCommand({ ...object, ...creationParams(t.store, t.metadata) }), { abortSignal });
      uploadId = out.UploadId;
    },

    async putPart(part, abortSignal) {
      const out = await t.client.send(
        new UploadPartCommand({ ...object, UploadId: uploadId, PartNumber: part.number, Body: part.data, ContentLength: part.data.length }),
        { abortSignal },
      );
      return { PartNumber: part.number, ETag: out.ETag };
    },

    async complete(parts, abortSignal) {
      await t.client.send(
        new CompleteMultipartUploadCommand({ ...object, UploadId: uploadId, MultipartUpload: { Parts: parts }, ...condition }),
        { abortSignal },
      );
    },

    async abandon() {
      // Parts of an unfinished upload are billed until aborted.
      await t.client.send(new AbortMultipartUploadCommand({ ...object, UploadId: uploadId }), {
        abortSignal: AbortSignal.timeout(t.abandonTimeoutMs),
      });
    },
  };
}
