import { readFile } from 'node:fs/promises';
import { WalshipError } from '../../errors.ts';

// google-auth-library reports a missing or malformed key file with errors
// that are easy to mistake for store failures, and a JSON syntax error can
// quote the file, private key and all. Checking the file first gives a
// configuration error that names the file and never its contents.

const KNOWN_TYPES = new Set([
  'service_account',
  'authorized_user',
  'external_account',
  'external_account_authorized_user',
  'impersonated_service_account',
]);

export async function checkCredentialsFile(path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new WalshipError('CONFIG_INVALID', `GCS credentials file ${path} cannot be read (${typeof code === 'string' ? code : 'error'})`, {
      details: { path },
    });
  }
  let type: unknown;
  try {
    type = (JSON.parse(text) as { type?: unknown }).type;
  } catch {
    throw new WalshipError('CONFIG_INVALID', `GCS credentials file ${path} is not valid JSON`, { details: { path } });
  }
  if (typeof type !== 'string' || !KNOWN_TYPES.has(type)) {
    throw new WalshipError('CONFIG_INVALID', `GCS credentials file ${path} has no known "type" (expected e.g. "service_account")`, {
      details: { path },
    });
  }
}
