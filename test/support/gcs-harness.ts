import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GcsStoreConfig } from '../../agent/config/types.ts';
import { newOAuthClient, writeAuthorizedUserFile, writeServiceAccountKey } from './gcs-credentials.ts';
import { startGcsServer, type GcsServer } from './gcs-server.ts';

// A running test server with credentials files for it: the one every GCS
// test starts from.

export const TEST_BUCKET = 'walship-test';

export interface GcsHarness {
  server: GcsServer;
  /** A service-account key the server accepts. */
  keyFile: string;
  /** A key for the same account that the server does not know: a revoked or wrong key. */
  wrongKeyFile: string;
  /** An external_account_authorized_user file whose token_url is the server's. */
  authorizedUserFile: string;
  /** The same, with a refresh token the token endpoint refuses. */
  revokedUserFile: string;
  config(prefix: string, credentialsFile?: string): GcsStoreConfig;
  stop(): Promise<void>;
}

export async function startGcsHarness(): Promise<GcsHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'walship-gcs-creds-'));
  const [good, wrong] = await Promise.all([writeServiceAccountKey(dir, 'good'), writeServiceAccountKey(dir, 'wrong')]);
  const client = newOAuthClient();
  const server = await startGcsServer({
    buckets: [TEST_BUCKET],
    auth: { serviceAccounts: [{ email: good.email, publicKeyPem: good.publicKeyPem }], refreshTokens: [client] },
  });
  const authorizedUserFile = await writeAuthorizedUserFile(dir, 'user', server.tokenUrl, client);
  const revokedUserFile = await writeAuthorizedUserFile(dir, 'revoked', server.tokenUrl, { ...client, refreshToken: 'revoked' });
  return {
    server,
    keyFile: good.file,
    wrongKeyFile: wrong.file,
    authorizedUserFile,
    revokedUserFile,
    config: (prefix, credentialsFile = good.file) => ({ kind: 'gcs', bucket: TEST_BUCKET, prefix, endpoint: server.url, credentialsFile }),
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
