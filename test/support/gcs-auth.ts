import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

// The test server's side of Google auth: which bearer tokens it accepts,
// and a small OAuth token endpoint. Accepted are
//  - self-signed JWTs from a service-account key the server knows (the
//    signature is checked against the public key), and
//  - access tokens it issued itself at POST /token for a refresh token,
//    the flow of an `external_account_authorized_user` credentials file.
// A key or refresh token it does not know gets the answers Google gives,
// so the driver's wrong-credentials path is tested for real.

export interface GcsAuthConfig {
  serviceAccounts: { email: string; publicKeyPem: string }[];
  refreshTokens: { clientId: string; clientSecret: string; refreshToken: string }[];
}

export type BearerCheck = 'ok' | 'missing' | 'invalid';

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

const TOKEN_LIFETIME_S = 3600;
const CLOCK_SKEW_S = 60;

export class GcsAuthenticator {
  private readonly keys = new Map<string, KeyObject>();
  private readonly refreshTokens: GcsAuthConfig['refreshTokens'];
  private readonly issued = new Map<string, number>();

  constructor(config: GcsAuthConfig) {
    for (const sa of config.serviceAccounts) this.keys.set(sa.email, createPublicKey(sa.publicKeyPem));
    this.refreshTokens = config.refreshTokens;
  }

  check(authorization: string | undefined): BearerCheck {
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return 'missing';
    const expires = this.issued.get(token);
    if (expires !== undefined) return expires > Date.now() ? 'ok' : 'invalid';
    return this.validJwt(token) ? 'ok' : 'invalid';
  }

  /** POST /token with a form body; client authentication by HTTP Basic, as google-auth-library sends it. */
  token(form: URLSearchParams, authorization: string | undefined): TokenAnswer {
    const basic = /^Basic (\S+)$/i.exec(authorization ?? '')?.[1];
    const [clientId, clientSecret] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [form.get('client_id'), form.get('client_secret')];
    if (form.get('grant_type') !== 'refresh_token') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Only refresh_token is supported here.' } };
    }
    const client = this.refreshTokens.filter((c) => c.clientId === clientId);
    if (client.length === 0 || !client.some((c) => c.clientSecret === clientSecret)) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'The OAuth client was not found.' } };
    }
    if (!client.some((c) => c.refreshToken === form.get('refresh_token'))) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Bad Request' } };
    }
    const accessToken = `ya29.test-${randomBytes(24).toString('base64url')}`;
    this.issued.set(accessToken, Date.now() + TOKEN_LIFETIME_S * 1000);
    return { status: 200, body: { access_token: accessToken, expires_in: TOKEN_LIFETIME_S - 1, token_type: 'Bearer' } };
  }

  private validJwt(token: string): boolean {
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [header, payload, signature] = parts as [string, string, string];
    try {
      const h = JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: string };
      const p = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { iss?: string; sub?: string; exp?: number; iat?: number };
      const key = p.iss === undefined ? undefined : this.keys.get(p.iss);
      if (h.alg !== 'RS256' || !key || p.sub !== p.iss) return false;
      const now = Date.now() / 1000;
      if (typeof p.exp !== 'number' || p.exp < now || typeof p.iat !== 'number' || p.iat > now + CLOCK_SKEW_S) return false;
      return verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'));
    } catch {
      return false;
    }
  }
}
