import type { Readable } from 'node:stream';
import type { ByteRange } from './driver.ts';

// Small HTTP facts shared by the object-store drivers (S3, Azure), which
// speak the same range and streaming semantics over different SDKs.

/** An HTTP Range header value for an inclusive byte range. */
export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end ?? ''}`;
}

/**
 * The whole object's size: a ranged answer's Content-Length is only the
 * range's, and the total is the part after the slash of Content-Range.
 */
export function objectSize(contentRange: string | undefined, contentLength: number | undefined): number {
  const total = contentRange === undefined ? undefined : /\/(\d+)$/.exec(contentRange)?.[1];
  return total === undefined ? (contentLength ?? 0) : Number(total);
}

/** Destroys a response body when the caller aborts, so the socket is released rather than left half-read. */
export function destroyOnAbort(body: Readable, signal: AbortSignal | undefined): Readable {
  if (!signal) return body;
  const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : undefined);
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
  return body;
}
