import { createHash } from 'node:crypto';
import { addAbortListener } from 'node:events';
import { pipeline } from 'node:stream/promises';
import type { CreateWriteStreamOptions, File } from '@google-cloud/storage';
import type { BodySource, PutOptions } from '../driver.ts';
import { readHead } from './body-head.ts';
import { isPreconditionFailed } from './errors.ts';
import type { GcsClient } from './client.ts';

// Bodies up to this size go up in one request, a simple upload; larger or
// unknown-length ones in a resumable upload, whose session costs a second
// round trip. Google advises simple uploads below about 10 MB; below
// 8 MiB the head is cheap to hold.
export const SIMPLE_UPLOAD_MAX = 8 * 1024 * 1024;

// Set, so nothing guesses a type from the key's extension.
const CONTENT_TYPE = 'application/octet-stream';

type Interceptor = File['interceptors'][number];

/** Stores the body under `name`. With ifAbsent, resolves false instead if an object is there. */
export async function uploadObject(client: GcsClient, name: string, body: BodySource, options: PutOptions, ifAbsent: boolean): Promise<boolean> {
  const signal = options.signal;
  signal?.throwIfAborted();
  const source = body();
  // Destroying the source stops the upload wherever it is: while its head
  // is read, or mid-stream, where the pipeline tears the rest down.
  const stopOnAbort = signal ? addAbortListener(signal, () => source.destroy(signal.reason)) : undefined;
  try {
    const knownLarge = options.contentLength !== undefined && options.contentLength > SIMPLE_UPLOAD_MAX;
    const head = knownLarge ? { stream: source } : await readHead(source, SIMPLE_UPLOAD_MAX);
    if ('whole' in head) {
      // GCS checks the MD5 sent with the metadata and stores nothing if the
      // bytes differ: an end-to-end check that costs one native hash.
      const md5Hash = createHash('md5').update(head.whole).digest('base64');
      const object = { contentType: CONTENT_TYPE, metadata: options.metadata ?? {}, md5Hash };
      await client.api.insertObject(name, head.whole, object, ifAbsent ? 0 : undefined, signal);
    } else {
      await pipeline(head.stream, await resumableSink(client, name, options, ifAbsent), { signal });
    }
    return true;
  } catch (err) {
    source.destroy();
    if (signal?.aborted) throw signal.reason;
    if (ifAbsent && isPreconditionFailed(err)) return false;
    throw err;
  } finally {
    stopOnAbort?.[Symbol.dispose]();
  }
}

/** A resumable upload through the library: it streams the body in a single PUT once the session is open. */
async function resumableSink(client: GcsClient, name: string, options: PutOptions, ifAbsent: boolean) {
  const file = (await client.resumableBucket()).file(name);
  const signal = options.signal;
  const headers = await client.resumableAuthHeaders();
  // The uploader takes request options only from interceptors: this is how
  // its session requests get the signal (its data PUT is aborted through
  // the stream) and, see resumableAuthHeaders, credentials.
  file.interceptors.push({
    request: (o) => ({ ...o, ...(signal ? { signal } : {}), headers: { ...o.headers, ...headers } }) as ReturnType<Interceptor['request']>,
  });
  const writeOptions: CreateWriteStreamOptions = {
    resumable: true,
    metadata: {
      contentType: CONTENT_TYPE,
      metadata: options.metadata ?? {},
      ...(options.contentLength === undefined ? {} : { contentLength: options.contentLength }),
    },
    // The body's MD5 is only known at its end, after the object exists: the
    // library then compares it with the stored one, and on a mismatch
    // deletes the object and fails. MD5 because it is hashed natively at
    // over 600 MiB/s; the library's CRC32C is JavaScript at about 160 MiB/s,
    // which would bound a backup's upload speed.
    validation: 'md5',
    ...(ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
  };
  return file.createWriteStream(writeOptions);
}
