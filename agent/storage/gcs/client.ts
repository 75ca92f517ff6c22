import type { Bucket } from '@google-cloud/storage';
import { GoogleAuth } from 'google-auth-library';
import type { GcsStoreConfig, TransferConfig } from '../../config/types.ts';
import { checkCredentialsFile } from './credentials.ts';
import { exchange } from './http.ts';
import { createJsonApi, type JsonApi, type Send } from './json-api.ts';

// What the driver talks to GCS with: the JSON API client for most calls,
// and @google-cloud/storage for resumable uploads only, loaded on the first
// one. A wal-push of a small segment never loads it: that saves about
// 50 ms and 6 MiB per process. Both share one GoogleAuth, so a token is
// fetched once.

export interface GcsClient {
  api: JsonApi;
  /** The library's bucket handle, for resumable uploads. */
  resumableBucket(): Promise<Bucket>;
  /**
   * Headers a resumable upload must carry itself, or undefined when the
   * library authenticates it. @google-cloud/storage 7.22 does not pass
   * `useAuthWithCustomEndpoint` on to its resumable uploader, which then
   * sends requests to a non-Google endpoint without credentials.
   */
  resumableAuthHeaders(): Promise<Record<string, string> | undefined>;
}

const GOOGLE_ENDPOINT = 'https://storage.googleapis.com';
/** Objects are read, written, listed and deleted; nothing else is needed. */
const SCOPES = ['https://www.googleapis.com/auth/devstorage.read_write'];
const USER_AGENT = 'walship';

export async function createGcsClient(store: GcsStoreConfig, transfer: TransferConfig): Promise<GcsClient> {
  if (store.credentialsFile !== undefined) await checkCredentialsFile(store.credentialsFile);
  const endpoint = store.endpoint === undefined ? GOOGLE_ENDPOINT : sanitizeEndpoint(store.endpoint);
  // An endpoint without a credentials file is an emulator, or a proxy that
  // authenticates for us: then no Google credentials are looked for at all.
  // Otherwise the key file, or Application Default Credentials.
  const auth =
    store.credentialsFile !== undefined || store.endpoint === undefined
      ? new GoogleAuth({ scopes: SCOPES, ...(store.credentialsFile === undefined ? {} : { keyFilename: store.credentialsFile }) })
      : undefined;
  const authHeaders = async (url?: string) => (auth ? ((await auth.getRequestHeaders(url)) as Record<string, string>) : {});

  // A second line of defence only: the wrapper's deadlines come first and
  // abort the request through its signal. The timeout runs until the
  // answer is in, so it must also cover sending a simple upload's body.
  const timeout = 2 * Math.max(transfer.requestTimeoutMs, transfer.idleTimeoutMs);
  const send: Send = async (x) => exchange({ ...x, headers: { ...x.headers, ...(await authHeaders(x.url)), 'User-Agent': USER_AGENT }, timeout });

  let bucket: Promise<Bucket> | undefined;
  return {
    api: createJsonApi(send, endpoint, store.bucket),
    resumableBucket() {
      bucket ??= import('@google-cloud/storage').then(({ Storage }) =>
        new Storage({
          ...(store.endpoint === undefined ? {} : { apiEndpoint: endpoint, useAuthWithCustomEndpoint: auth !== undefined }),
          ...(auth ? { authClient: auth } : {}),
          // Retries live in one place, the resilience wrapper. Without a
          // custom retryableErrorFn the resumable uploader, even with
          // autoRetry off, replaces a failed response with "Retry limit
          // exceeded" and loses its status.
          retryOptions: { autoRetry: false, retryableErrorFn: () => false },
          userAgent: USER_AGENT,
        }).bucket(store.bucket),
      );
      return bucket;
    },
    async resumableAuthHeaders() {
      return store.endpoint !== undefined && auth ? authHeaders() : undefined;
    },
  };
}

/** As the library does it: a scheme if none is given, no trailing slash. */
function sanitizeEndpoint(url: string): string {
  return (/^\w+:\/\//.test(url) ? url : `https://${url}`).replace(/\/+$/, '');
}
