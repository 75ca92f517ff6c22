import type { StoredObject } from './gcs-store.ts';

// The JSON API's resource shapes, as GCS returns them.

export function resource(o: StoredObject, origin: string) {
  const path = `b/${encodeURIComponent(o.bucket)}/o/${encodeURIComponent(o.name)}`;
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${origin}/storage/v1/${path}`,
    mediaLink: `${origin}/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: String(o.generation),
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.size),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: etag(o),
    timeCreated: o.timeCreated.toISOString(),
    updated: o.updated.toISOString(),
    timeStorageClassUpdated: o.timeCreated.toISOString(),
    ...(o.metadata ? { metadata: o.metadata } : {}),
  };
}

export function bucketResource(name: string, created: Date, origin: string) {
  return {
    kind: 'storage#bucket',
    id: name,
    selfLink: `${origin}/storage/v1/b/${encodeURIComponent(name)}`,
    name,
    location: 'US',
    storageClass: 'STANDARD',
    timeCreated: created.toISOString(),
    updated: created.toISOString(),
    metageneration: '1',
  };
}

export const etag = (o: StoredObject) => Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64');

