import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3StoreConfig } from '../../config/types.ts';
import { WalshipError } from '../../errors.ts';

// The bucket's region when AWS_REGION is unset, found as WAL-G finds it: S3
// names it in the x-amz-bucket-region header of every HeadBucket answer,
// the 301 of a wrong region and the 403 of a forbidden bucket included.
// Asked once per driver, on its first request, so a command that never
// reaches the store never asks.

/** What AWS's global endpoint answers for, and what S3-compatible stores (AWS_ENDPOINT) expect when told nothing. */
export const DEFAULT_REGION = 'us-east-1';

const REGION_HEADER = 'x-amz-bucket-region';

/**
 * The client's region setting: the configured one, the default for an
 * S3-compatible endpoint, or else a provider that asks the bucket through
 * `bootstrap` (a client in DEFAULT_REGION) the first time and remembers the
 * answer; a failed question is asked again by the next request.
 */
export function regionProvider(store: Pick<S3StoreConfig, 'region' | 'endpoint' | 'bucket'>, bootstrap: () => S3Client): string | (() => Promise<string>) {
  if (store.region !== undefined) return store.region;
  if (store.endpoint !== undefined) return DEFAULT_REGION;
  let found: Promise<string> | undefined;
  return () => {
    if (found === undefined) {
      found = discoverBucketRegion(bootstrap(), store.bucket);
      found.catch(() => (found = undefined));
    }
    return found;
  };
}

/** Sends HeadBucket and reads the region it names, whatever the status. */
export async function discoverBucketRegion(client: S3Client, bucket: string): Promise<string> {
  let region: string | undefined;
  let failure: unknown;
  try {
    region = (await client.send(new HeadBucketCommand({ Bucket: bucket }))).BucketRegion;
  } catch (err) {
    failure = err;
    // A 301 or 403 is an error to the SDK; its raw answer still has the header.
    region = headerOf((err as { $response?: { headers?: Record<string, string> } }).$response?.headers);
  } finally {
    client.destroy();
  }
  if (region !== undefined && region !== '') return region;
  throw new WalshipError('STORE_REQUEST_FAILED', `cannot find the region of bucket ${bucket}: HeadBucket named none${failure === undefined ? '' : ` (${(failure as Error).name ?? String(failure)})`}; set AWS_REGION`, {
    cause: failure,
    details: { bucket },
  });
}

function headerOf(headers: Record<string, string> | undefined): string | undefined {
  if (headers === undefined) return undefined;
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() === REGION_HEADER && value !== '') return value;
  return undefined;
}
