import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3StoreConfig, TransferConfig } from '../../config/types.ts';
import { WalshipError } from '../../errors.ts';
import { DEFAULT_REGION, regionProvider } from './region.ts';

// The S3 client as walship needs it: no SDK retries (resilient.ts retries,
// in one place, with one budget), and socket-level timeouts as a second line
// of defence behind the caller's deadline.

/** Sockets per client: enough for parallel part uploads of several objects at once. */
const MAX_SOCKETS = 64;

/**
 * The socket idle timeout is a backstop for a request whose caller never
 * aborts it. resilient.ts owns the real idle deadline and tolerates a
 * consumer that pauses a download; the socket timeout cannot tell a pause
 * from a stall, so it is set well beyond the real one.
 */
const SOCKET_IDLE_FACTOR = 4;

export function createS3Client(store: S3StoreConfig, transfer: TransferConfig): S3Client {
  // The region question goes through a client like this one, in the default region.
  return buildClient(store, transfer, regionProvider(store, () => buildClient(store, transfer, DEFAULT_REGION)));
}

function buildClient(store: S3StoreConfig, transfer: TransferConfig, region: string | (() => Promise<string>)): S3Client {
  const ca = store.caCertFile === undefined ? undefined : readCa(store.caCertFile);
  const checksums = store.checksums === 'when_required' ? 'WHEN_REQUIRED' : undefined;
  const client = new S3Client({
    region,
    ...(store.endpoint === undefined ? {} : { endpoint: store.endpoint }),
    forcePathStyle: store.forcePathStyle,
    // Absent: the SDK's default chain (environment, profile, web identity, instance role).
    ...(store.credentials === undefined ? {} : { credentials: { ...store.credentials } }),
    maxAttempts: 1,
    ...(checksums === undefined ? {} : { requestChecksumCalculation: checksums, responseChecksumValidation: checksums }),
    requestHandler: new NodeHttpHandler({
      connectionTimeout: transfer.requestTimeoutMs,
      socketTimeout: transfer.idleTimeoutMs * SOCKET_IDLE_FACTOR,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, ...(ca === undefined ? {} : { ca }) }),
    }),
  });
  if (checksums !== undefined) addDeleteObjectsContentMd5(client);
  return client;
}

/**
 * DeleteObjects must carry an integrity header. The SDK (since 3.729) sends
 * only a CRC32 one, which S3-compatible stores that predate flexible
 * checksums reject with MissingContentMD5; those are the stores
 * 'when_required' is for, so add the Content-MD5 they expect.
 */
function addDeleteObjectsContentMd5(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const body = request.body;
      if (context.commandName === 'DeleteObjectsCommand' && request.headers && (typeof body === 'string' || body instanceof Uint8Array)) {
        request.headers['content-md5'] = createHash('md5').update(body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'walshipDeleteObjectsContentMd5' },
  );
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new WalshipError('CONFIG_INVALID', `cannot read the S3 CA certificate file ${path}: ${reason}`, { cause: err });
  }
}
