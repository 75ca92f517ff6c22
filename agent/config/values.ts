import { WalshipError } from '../errors.ts';

// Parsers for raw setting values. Each names the variable and the source in
// its error, and never echoes a secret.

export interface RawValue {
  name: string;
  value: string;
  /** Where the value came from, e.g. 'environment', 'envdir /etc/walship'. */
  source: string;
  secret: boolean;
}

export function invalid(raw: RawValue, expected: string): WalshipError {
  const shown = raw.secret ? '(value hidden: secret)' : `got ${JSON.stringify(raw.value.length > 200 ? raw.value.slice(0, 200) + '…' : raw.value)}`;
  return new WalshipError('CONFIG_INVALID', `${raw.name} (from ${raw.source}): expected ${expected}, ${shown}`, {
    details: { variable: raw.name, source: raw.source },
  });
}

export function parseBoolean(raw: RawValue): boolean {
  const v = raw.value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw invalid(raw, 'true or false');
}

export function parseInteger(raw: RawValue, min: number, max: number): number {
  const v = raw.value.trim();
  if (!/^\d+$/.test(v)) throw invalid(raw, `a whole number from ${min} to ${max}`);
  const n = Number(v);
  if (n < min || n > max) throw invalid(raw, `a whole number from ${min} to ${max}`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration like '30s', '500ms', '2m' or a bare number of seconds; returns milliseconds. */
export function parseDuration(raw: RawValue, minMs: number, maxMs: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(raw.value.trim());
  const expected = `a duration such as 500ms, 30s or 5m, between ${minMs} ms and ${maxMs / 1000} s`;
  if (!m) throw invalid(raw, expected);
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  if (ms < minMs || ms > maxMs) throw invalid(raw, expected);
  return Math.round(ms);
}

export function parseChoice<T extends string>(raw: RawValue, choices: readonly T[]): T {
  const v = raw.value.trim().toLowerCase();
  const found = choices.find((c) => c === v);
  if (found === undefined) throw invalid(raw, `one of ${choices.join(', ')}`);
  return found;
}

export function parseUrl(raw: RawValue): string {
  const v = raw.value.trim();
  try {
    const url = new URL(v.includes('://') ? v : `http://${v}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    return url.toString().replace(/\/$/, '');
  } catch {
    throw invalid(raw, 'an http(s) URL such as https://minio.example:9000');
  }
}

export function parseNonEmpty(raw: RawValue): string {
  const v = raw.value.trim();
  if (v === '') throw invalid(raw, 'a non-empty value');
  return v;
}
