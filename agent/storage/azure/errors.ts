import type { ErrorCode, WalshipError } from '../../errors.ts';
import { storeError, type ErrorContext } from '../classify.ts';

// Azure error codes that say more than their HTTP status: a bad key is a 403
// like a missing permission, but only one of the two is fixed by editing
// the credentials.

const AZURE_CODES: Readonly<Record<string, ErrorCode>> = {
  AuthenticationFailed: 'STORE_AUTH',
  InvalidAuthenticationInfo: 'STORE_AUTH',
  NoAuthenticationInformation: 'STORE_AUTH',
  ContainerNotFound: 'STORE_NO_BUCKET',
  BlobNotFound: 'STORE_NOT_FOUND',
  // Another writer committed the blob first, which discards this writer's
  // uncommitted blocks; uploading again succeeds (last writer wins, as put promises).
  InvalidBlockList: 'STORE_REQUEST_FAILED',
};

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { errorCode?: string };
}

export function azureStatus(err: unknown): number | undefined {
  return (err as RestErrorLike | undefined)?.statusCode;
}

/** The service's error code: in the body for most answers, only in x-ms-error-code for HEAD. */
export function azureCode(err: unknown): string | undefined {
  const e = err as RestErrorLike | undefined;
  return e?.code ?? e?.details?.errorCode;
}

function catalogueCode(storeCode: string | undefined, message: string): ErrorCode | undefined {
  if (storeCode === undefined) return undefined;
  // Azure says AuthorizationFailure for a denied operation; Azurite says it
  // for a bad signature too, with Azure's authentication-failure message.
  if (storeCode === 'AuthorizationFailure' && /failed to authenticate/i.test(message)) return 'STORE_AUTH';
  return AZURE_CODES[storeCode];
}

export function azureError(ctx: ErrorContext, err: unknown): WalshipError {
  const status = azureStatus(err);
  // Without a status the "code" is Node's (ECONNREFUSED...), which classify.ts reads itself.
  const storeCode = status === undefined ? undefined : azureCode(err);
  const message = (err as RestErrorLike | undefined)?.message ?? '';
  const code = catalogueCode(storeCode, message);
  // The service appends "RequestId:...\nTime:..." lines; the first line is the explanation.
  const described = status === undefined || !message.includes('\n') ? err : new Error(message.split('\n')[0], { cause: err });
  return storeError(ctx, described, {
    ...(status === undefined ? {} : { status }),
    ...(storeCode === undefined ? {} : { storeCode }),
    ...(code === undefined ? {} : { code }),
  });
}

/** A conditional write (If-None-Match: *) found a blob in place. */
export function isBlobExists(err: unknown): boolean {
  const status = azureStatus(err);
  return status === 412 || (status === 409 && azureCode(err) === 'BlobAlreadyExists');
}

export function isBlobNotFound(err: unknown): boolean {
  return azureStatus(err) === 404 && azureCode(err) !== 'ContainerNotFound';
}
