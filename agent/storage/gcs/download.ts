import { createHash, type Hash } from 'node:crypto';
import { addAbortListener } from 'node:events';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { WalshipError } from '../../errors.ts';
import type { ByteRange } from '../driver.ts';
import type { JsonApi, ObjectResource } from './json-api.ts';

/** The inclusive byte span to read, undefined for the whole object, 'none' when nothing is there. */
export function clampRange(range: ByteRange | undefined, size: number): { start: number; end: number } | undefined | 'none' {
  if (range === undefined) return undefined;
  const end = Math.min(range.end ?? size - 1, size - 1);
  if (range.start >= size || end < range.start) return 'none';
  return range.start === 0 && end === size - 1 ? undefined : { start: range.start, end };
}

/**
 * Opens the body of the object `resource` describes (that generation, so
 * bytes and metadata belong together). Resolves once the store has
 * answered, so a refusal fails the call rather than the stream. The stream
 * checks that every byte arrived and, for whole reads, that they match the
 * stored MD5; its errors are already walship's. Destroying it, or aborting
 * the signal, closes the connection.
 */
export async function openDownload(
  api: JsonApi,
  name: string,
  resource: ObjectResource,
  range: ByteRange | undefined,
  where: string,
  classify: (err: unknown) => Error,
  signal?: AbortSignal,
): Promise<Readable> {
  const size = Number(resource.size ?? 0);
  const span = clampRange(range, size);
  if (span === 'none') return Readable.from([]);
  const stop = new AbortController();
  const request = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const source = await api.readObject(name, String(resource.generation), span, request);

  const expected = span === undefined ? size : span.end - span.start + 1;
  const md5 = span === undefined && typeof resource.md5Hash === 'string' ? resource.md5Hash : undefined;
  const checked = new CheckedBody(expected, md5, where);
  source.on('error', (err) => checked.destroy(signal?.aborted ? signal.reason : classify(err)));
  source.pipe(checked);
  const stopOnAbort = signal ? addAbortListener(signal, () => checked.destroy(signal.reason)) : undefined;
  checked.on('close', () => {
    stopOnAbort?.[Symbol.dispose]();
    // A reader that stops early must not leave the socket open and paused.
    if (!checked.readableEnded) stop.abort();
  });
  return checked;
}

/** Passes the body through, failing it at the end if it is short, long, or not the stored bytes. */
class CheckedBody extends Transform {
  private readonly expected: number;
  private readonly md5Expected: string | undefined;
  private readonly hash: Hash | undefined;
  private readonly where: string;
  private seen = 0;

  constructor(expected: number, md5Expected: string | undefined, where: string) {
    super();
    this.expected = expected;
    this.md5Expected = md5Expected;
    this.hash = md5Expected === undefined ? undefined : createHash('md5');
    this.where = where;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    this.hash?.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.seen !== this.expected) return done(this.corrupt(`got ${this.seen} bytes of ${this.expected}`));
    if (this.hash && this.hash.digest('base64') !== this.md5Expected) return done(this.corrupt('the bytes do not match the stored MD5'));
    done();
  }

  private corrupt(what: string): WalshipError {
    // Retryable: a transfer gone wrong, most likely, not a bad object.
    return new WalshipError('STORE_REQUEST_FAILED', `get ${this.where}: download damaged: ${what}`, { details: { op: 'get' } });
  }
}
