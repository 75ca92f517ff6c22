import type { FileMetadata } from '@google-cloud/storage';
import type { ObjectInfo, ObjectMetadata } from '../driver.ts';

/** An object resource of the JSON API, as walship describes objects. */
export function toObjectInfo(key: string, resource: FileMetadata): ObjectInfo {
  const metadata = userMetadata(resource.metadata);
  return {
    key,
    // The JSON API sends sizes as decimal strings (they may exceed 2^53 in
    // principle; walship's objects do not).
    size: Number(resource.size ?? 0),
    lastModified: new Date(resource.updated ?? resource.timeCreated ?? 0),
    ...(metadata ? { metadata } : {}),
  };
}

function userMetadata(raw: FileMetadata['metadata']): ObjectMetadata | undefined {
  if (raw === undefined || raw === null) return undefined;
  const out: ObjectMetadata = {};
  for (const [k, v] of Object.entries(raw)) if (v !== null && v !== undefined) out[k] = String(v);
  return out;
}
