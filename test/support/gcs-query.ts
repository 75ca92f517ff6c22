import { badRequest } from './gcs-errors.ts';
import type { Preconditions } from './gcs-store.ts';

// Query parameters of the JSON API, read strictly: a malformed number is a 400, as on GCS.

export function preconditions(q: URLSearchParams): Preconditions {
  const pre: Preconditions = {};
  for (const key of ['ifGenerationMatch', 'ifGenerationNotMatch', 'ifMetagenerationMatch', 'ifMetagenerationNotMatch'] as const) {
    const value = intParam(q, key);
    if (value !== undefined) pre[key] = value;
  }
  return pre;
}

export function intParam(q: URLSearchParams, key: string): number | undefined {
  const raw = q.get(key);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw badRequest(`Invalid value for ${key}: ${raw}`);
  return Number(raw);
}

export function requireName(name: string | null): string {
  if (!name) throw badRequest('Required: object name.');
  return name;
}

