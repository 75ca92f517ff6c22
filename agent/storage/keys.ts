import { WalshipError } from '../errors.ts';

// Keys are '/'-separated paths relative to the store's prefix. Rejecting
// odd shapes here keeps every driver safe from path traversal on the
// filesystem and from keys that object stores silently normalise.

const MAX_KEY_BYTES = 900;

function invalid(key: string, why: string): WalshipError {
  return new WalshipError('STORE_INVALID_KEY', `invalid object key ${JSON.stringify(key)}: ${why}`);
}

function checkSegments(key: string, allowTrailingSlash: boolean): void {
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw invalid(key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (key.startsWith('/')) throw invalid(key, 'must not start with "/"');
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw invalid(key, 'control characters and backslashes are not allowed');
  const segments = key.split('/');
  if (allowTrailingSlash && segments.at(-1) === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') throw invalid(key, 'empty path segment');
    if (segment === '.' || segment === '..') throw invalid(key, `"${segment}" segments are not allowed`);
  }
}

export function validateKey(key: string): void {
  if (key === '') throw invalid(key, 'empty');
  if (key.endsWith('/')) throw invalid(key, 'must not end with "/"');
  checkSegments(key, false);
}

/** A listing prefix may be empty, and may end with '/' or part-way through a name. */
export function validatePrefix(prefix: string): void {
  if (prefix === '') return;
  checkSegments(prefix, true);
}

/** Joins a store prefix ('' or 'a/b') and a key. */
export function joinKey(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}/${key}`;
}

/** Normalises a user-given prefix: no leading or trailing slashes. */
export function normalisePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}
