import { randomBytes } from 'node:crypto';
import type { Send } from './json-api.ts';

// Deletes through the JSON API's batch endpoint: up to 100 calls in one
// HTTP request, answered one part per call. GCS has no other way to delete
// many objects in one call, and retention deletes thousands; one request
// per key is slow, and all of a deleteMany runs under one deadline.

export const BATCH_MAX = 100;

/** One call's answer: its HTTP status and, for an error, Google's JSON error body. */
export interface BatchOutcome {
  name: string;
  status: number;
  body?: unknown;
}

export async function batchDelete(send: Send, apiEndpoint: string, bucket: string, names: readonly string[], signal?: AbortSignal): Promise<BatchOutcome[]> {
  if (names.length > BATCH_MAX) throw new RangeError(`a batch holds at most ${BATCH_MAX} calls`);
  const boundary = `walship_${randomBytes(12).toString('hex')}`;
  // Inner requests name only a path, which keeps any path the endpoint has.
  const base = new URL(apiEndpoint).pathname.replace(/\/+$/, '');
  const parts = names.map(
    (name, i) =>
      `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <${i + 1}>\r\n\r\n` +
      `DELETE ${base}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)} HTTP/1.1\r\n\r\n`,
  );
  const response = await send<string>({
    url: `${apiEndpoint}/batch/storage/v1`,
    method: 'POST',
    headers: { 'Content-Type': `multipart/mixed; boundary=${boundary}` },
    body: `${parts.join('\r\n')}\r\n--${boundary}--\r\n`,
    responseType: 'text',
    signal,
  });
  const answers = parseBatchResponse(String(response.headers['content-type'] ?? ''), response.data);
  return names.map((name, i) => {
    const answer = answers.get(i + 1);
    // A call the answer does not mention failed as far as the caller can know.
    return answer ? { name, ...answer } : { name, status: 500, body: { error: { message: 'no answer in the batch response' } } };
  });
}

/** The inner answers by the Content-ID of their call. */
export function parseBatchResponse(contentType: string, text: string): Map<number, { status: number; body?: unknown }> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const delimiter = boundary?.[1] ?? boundary?.[2];
  if (!delimiter) throw new Error(`batch answer is not multipart: ${contentType}`);
  const answers = new Map<number, { status: number; body?: unknown }>();
  let order = 0;
  for (const part of text.split(`--${delimiter}`).slice(1)) {
    if (part.startsWith('--')) break;
    order++;
    const [partHeaders = '', inner = ''] = splitOnce(part.replace(/^\r\n/, ''), '\r\n\r\n');
    // Content-ID: <response-N>, after the call's own <N>; without one, answers are in order.
    const id = /^content-id:\s*<response-[^>]*?(\d+)>/im.exec(partHeaders);
    const status = /^HTTP\/[\d.]+ (\d{3})/.exec(inner);
    if (!status) continue;
    const [, innerBody = ''] = splitOnce(inner, '\r\n\r\n');
    const trimmed = innerBody.trim();
    let body: unknown;
    if (trimmed !== '') {
      try {
        body = JSON.parse(trimmed);
      } catch {
        body = trimmed;
      }
    }
    answers.set(id ? Number(id[1]) : order, { status: Number(status[1]), ...(body === undefined ? {} : { body }) });
  }
  return answers;
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + separator.length)];
}
