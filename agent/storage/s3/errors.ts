import type { ErrorCode, WalshipError } from '../../errors.ts';
import { storeError, type ErrorContext } from '../classify.ts';

// S3 error codes that say more than their HTTP status: a bad key or
// signature is a 403 like a missing permission, but only one of the two is
// fixed by editing the credentials.

const S3_CODES: Readonly<Record<string, ErrorCode>> = {
  InvalidAccessKeyId: 'STORE_AUTH',
  SignatureDoesNotMatch: 'STORE_AUTH',
  InvalidToken: 'STORE_AUTH',
  ExpiredToken: 'STORE_AUTH',
  TokenRefreshRequired: 'STORE_AUTH',
  // The SDK's default chain found no credentials at all.
  CredentialsProviderError: 'STORE_AUTH',
  NoSuchBucket: 'STORE_NO_BUCKET',
  NoSuchKey: 'STORE_NOT_FOUND',
  // The SDK's name for a 404 to HEAD, which has no body to carry a code.
  NotFound: 'STORE_NOT_FOUND',
  // Smithy's own connection and socket timeouts.
  TimeoutError: 'STORE_TIMEOUT',
  // Another conditional write to the key was in flight and its outcome is
  // unknown: S3 asks for a retry, which then gets 412 or succeeds. Answering
  // "exists" here could leave neither writer's object stored.
  ConditionalRequestConflict: 'STORE_REQUEST_FAILED',
};

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

export function s3Status(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

function s3Code(err: unknown): string | undefined {
  const e = err as SdkError | undefined;
  return e?.Code ?? e?.name;
}

export function s3Error(ctx: ErrorContext, err: unknown): WalshipError {
  const status = s3Status(err);
  const storeCode = s3Code(err);
  const code = storeCode === undefined ? undefined : S3_CODES[storeCode];
  return storeError(ctx, err, {
    ...(status === undefined ? {} : { status }),
    ...(status === undefined || storeCode === undefined ? {} : { storeCode }),
    ...(code === undefined ? {} : { code }),
  });
}

/** A conditional write (If-None-Match: *) found an object in place. */
export function isPreconditionFailed(err: unknown): boolean {
  return s3Status(err) === 412 || s3Code(err) === 'PreconditionFailed';
}

export function isNotFound(err: unknown): boolean {
  return s3Status(err) === 404 && s3Code(err) !== 'NoSuchBucket';
}
