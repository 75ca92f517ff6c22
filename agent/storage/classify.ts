import { WalshipError, type ErrorCode } from '../errors.ts';

// Shared by every driver, so that "the store refused my key" reads the same
// on S3, GCS and Azure, and retry decisions are made on one vocabulary.

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export interface ErrorContext {
  /** The operation, e.g. 'put', 'get'. */
  op: string;
  /** Printable store location. */
  location: string;
  key?: string;
}

function where(ctx: ErrorContext): string {
  return ctx.key === undefined ? ctx.location : `${ctx.location}/${ctx.key}`;
}

/** Finds a Node network error code anywhere in the cause chain. */
export function networkErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const msg = (e as { message?: unknown }).message;
    if (typeof msg === 'string' && /socket hang up|ECONNREFUSED|ECONNRESET|other side closed/.test(msg)) return 'ECONNRESET';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** 4xx answers other than timeouts and throttling will not change on retry. */
export function httpStatusCode(status: number): ErrorCode {
  if (status === 401) return 'STORE_AUTH';
  if (status === 403) return 'STORE_FORBIDDEN';
  if (status === 404) return 'STORE_NOT_FOUND';
  if (status === 408 || status === 429 || status >= 500) return 'STORE_REQUEST_FAILED';
  return 'STORE_REJECTED';
}

/**
 * Builds the catalogue error for a failed store call. `status` is the HTTP
 * status when the store answered; `storeCode` the store's own error code
 * (e.g. S3's 'InvalidAccessKeyId'), kept for the message.
 */
export function storeError(
  ctx: ErrorContext,
  err: unknown,
  answer?: { status?: number; storeCode?: string; code?: ErrorCode },
): WalshipError {
  if (err instanceof WalshipError) return err;
  const net = networkErrorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (answer?.status === undefined && answer?.code === undefined && net !== undefined) {
    return new WalshipError('STORE_UNREACHABLE', `${ctx.op} ${where(ctx)}: store unreachable (${net})`, {
      cause: err,
      details: { op: ctx.op, networkCode: net },
    });
  }
  const status = answer?.status;
  const code = answer?.code ?? (status === undefined ? 'STORE_REQUEST_FAILED' : httpStatusCode(status));
  const storeCode = answer?.storeCode ? ` ${answer.storeCode}` : '';
  const statusText = status === undefined ? '' : ` (HTTP ${status}${storeCode})`;
  const hint = HINTS[code] ?? '';
  return new WalshipError(code, `${ctx.op} ${where(ctx)}: ${CATALOGUE_TEXT[code] ?? detail}${statusText}${hint}`, {
    cause: err,
    details: { op: ctx.op, status, storeCode: answer?.storeCode, detail },
  });
}

const CATALOGUE_TEXT: Partial<Record<ErrorCode, string>> = {
  STORE_AUTH: 'the store rejected the credentials',
  STORE_FORBIDDEN: 'access denied by the store',
  STORE_NOT_FOUND: 'no such object',
  STORE_NO_BUCKET: 'the bucket or container does not exist',
};

const HINTS: Partial<Record<ErrorCode, string>> = {
  STORE_AUTH: '; check the access key and secret (or token) in the configuration',
  STORE_FORBIDDEN: '; the credentials are valid but lack permission for this bucket/prefix',
  STORE_NO_BUCKET: '; create it, or fix the prefix variable',
};

export function notFound(ctx: ErrorContext): WalshipError {
  return new WalshipError('STORE_NOT_FOUND', `${ctx.op} ${where(ctx)}: no such object`, { details: { op: ctx.op } });
}
