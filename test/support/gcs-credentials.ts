import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GcsAuthConfig } from './gcs-auth.ts';

// Credentials files of the kinds GOOGLE_APPLICATION_CREDENTIALS names, made
// for the test server, so tests go through google-auth-library's real
// file-loading, signing and token-fetching code with no network.

export interface ServiceAccountKey {
  /** Path of the service-account JSON key file. */
  file: string;
  email: string;
  publicKeyPem: string;
}

/**
 * A service-account key file. google-auth-library fetches tokens for such
 * keys from a token URL it hard-codes (it ignores the file's token_uri), so
 * no local endpoint can stand in for Google's. With a universe_domain other
 * than googleapis.com it instead signs each request with the key
 * (a self-signed JWT): the same key-loading and RSA signing, and a
 * signature the test server can check against the public key.
 */
export async function writeServiceAccountKey(dir: string, name: string, email = `walship@walship-test.iam.gserviceaccount.com`): Promise<ServiceAccountKey> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const file = join(dir, `${name}.json`);
  const key = {
    type: 'service_account',
    project_id: 'walship-test',
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: email,
    client_id: '100000000000000000001',
    token_uri: 'https://oauth2.googleapis.com/token',
    universe_domain: 'walship.test',
  };
  await writeFile(file, JSON.stringify(key, null, 2), { mode: 0o600 });
  return { file, email, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export type OAuthClient = GcsAuthConfig['refreshTokens'][number];

export function newOAuthClient(): OAuthClient {
  return { clientId: 'walship-test-client', clientSecret: randomBytes(12).toString('hex'), refreshToken: randomBytes(16).toString('hex') };
}

/**
 * An `external_account_authorized_user` credentials file: google-auth-library
 * trades its refresh token for an access token at the file's token_url,
 * which can be the test server's POST /token.
 */
export async function writeAuthorizedUserFile(dir: string, name: string, tokenUrl: string, client: OAuthClient): Promise<string> {
  const file = join(dir, `${name}.json`);
  const json = {
    type: 'external_account_authorized_user',
    audience: '//iam.googleapis.com/locations/global/workforcePools/walship-test/providers/test',
    client_id: client.clientId,
    client_secret: client.clientSecret,
    refresh_token: client.refreshToken,
    token_url: tokenUrl,
    universe_domain: 'googleapis.com',
  };
  await writeFile(file, JSON.stringify(json, null, 2), { mode: 0o600 });
  return file;
}
