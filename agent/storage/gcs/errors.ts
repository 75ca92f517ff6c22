import { WalshipError } from '../../errors.ts';
import { storeError, type ErrorContext } from '../classify.ts';

// Failures reach the driver in a few shapes: the JSON API client's
// HttpStatusError and gaxios's GaxiosError (used by google-auth-library and
// the resumable uploader) both carry the HTTP status in `status` and the
// answer in `response.data`, Google's JSON error as an object or as text;
// the resumable uploader's Error('Upload failed') has the status in `code`
// and the answer in `errors`; token endpoints answer in OAuth's shape,
// `{error: 'invalid_grant'}`. This file reads them all, so the driver asks
// one question: what did GCS say?

interface ErrorLike {
  code?: unknown;
  status?: unknown;
  message?: unknown;
  errors?: unknown[];
  response?: { status?: unknown; data?: unknown };
}

interface JsonApiError {
  code?: unknown;
  message?: unknown;
  errors?: { reason?: unknown; message?: unknown }[];
}

/** Integrity failures the library raises after comparing hashes. */
const INTEGRITY_CODES = new Set(['FILE_NO_UPLOAD', 'FILE_NO_UPLOAD_DELETE', 'MD5_NOT_AVAILABLE']);

export function httpStatus(err: unknown): number | undefined {
  const e = err as ErrorLike | undefined;
  if (typeof e?.status === 'number') return e.status;
  if (typeof e?.response?.status === 'number') return e.response.status;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

function body(err: unknown): unknown {
  const e = err as ErrorLike | undefined;
  const data = e?.response?.data ?? e?.errors?.[0];
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}

/** Google's JSON error, `{error: {code, message, errors: [{reason}]}}`, if that is what came back. */
function jsonApiError(err: unknown): JsonApiError | undefined {
  const error = (body(err) as { error?: unknown } | undefined)?.error;
  return error !== null && typeof error === 'object' ? (error as JsonApiError) : undefined;
}

/** The OAuth error code, when a token endpoint refused the credentials. */
function oauthError(err: unknown): string | undefined {
  const error = (body(err) as { error?: unknown } | undefined)?.error;
  return typeof error === 'string' ? error : undefined;
}

/** GCS says "bucket does not exist" and "no such object" with the same status and reason. */
function isMissingBucket(err: unknown): boolean {
  const message = jsonApiError(err)?.message;
  return typeof message === 'string' && /bucket does not exist/i.test(message);
}

export function isObjectNotFound(err: unknown): boolean {
  return httpStatus(err) === 404 && !isMissingBucket(err);
}

export function isPreconditionFailed(err: unknown): boolean {
  return httpStatus(err) === 412;
}

export function gcsError(ctx: ErrorContext, err: unknown): WalshipError {
  if (err instanceof WalshipError) return err;
  const status = httpStatus(err);
  const clean = scrub(err);
  const oauth = oauthError(err);
  if (oauth !== undefined) return storeError(ctx, clean, { ...(status === undefined ? {} : { status }), storeCode: oauth, code: 'STORE_AUTH' });
  const libraryCode = (err as ErrorLike | undefined)?.code;
  if (typeof libraryCode === 'string' && INTEGRITY_CODES.has(libraryCode)) {
    return storeError(ctx, clean, { storeCode: libraryCode, code: 'STORE_REQUEST_FAILED' });
  }
  if (status === undefined) return storeError(ctx, clean);
  const reason = jsonApiError(err)?.errors?.[0]?.reason;
  return storeError(ctx, clean, {
    status,
    ...(typeof reason === 'string' ? { storeCode: reason } : {}),
    ...(status === 404 && isMissingBucket(err) ? { code: 'STORE_NO_BUCKET' as const } : {}),
  });
}

/**
 * Errors from the client libraries hold the request they failed on:
 * headers (a bearer token, where a library does not redact it) and
 * resumable session URLs, which are upload capabilities. Only the facts
 * are kept as the cause, so no logger can print a secret.
 */
function scrub(err: unknown): Error {
  const e = err as ErrorLike | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const clean = new Error(message.replace(/(upload_id=)[^&\s"']+/g, '$1<redacted>'));
  if (err instanceof Error) clean.name = err.name;
  const code = e?.code;
  if (typeof code === 'string' || typeof code === 'number') Object.assign(clean, { code });
  return clean;
}
