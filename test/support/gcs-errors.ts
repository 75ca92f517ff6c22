import type { ServerResponse } from 'node:http';

// Errors in the JSON API's own shape, so the client library parses them the
// way it parses Google's, and the driver's classification is tested against
// the reasons and messages real GCS sends.

export class GcsApiError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export const noSuchBucket = () => new GcsApiError(404, 'notFound', 'The specified bucket does not exist.');
export const noSuchObject = (bucket: string, name: string) => new GcsApiError(404, 'notFound', `No such object: ${bucket}/${name}`);
export const preconditionFailed = () =>
  new GcsApiError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
export const badRequest = (message: string) => new GcsApiError(400, 'invalid', message);

export function errorBody(err: GcsApiError) {
  return { error: { code: err.status, message: err.message, errors: [{ message: err.message, domain: 'global', reason: err.reason }] } };
}

export function sendError(res: ServerResponse, err: GcsApiError): void {
  sendJson(res, err.status, errorBody(err));
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
