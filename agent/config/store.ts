import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WalshipError } from '../errors.ts';
import { normalisePrefix } from '../storage/keys.ts';
import type { StoreConfig } from './types.ts';
import { invalid, type RawValue } from './values.ts';

// Which store, from WAL-G's prefix variables, and whether its credentials
// are complete: all decided before the first request is sent.

const PREFIX_VARIABLES = ['WALG_FILE_PREFIX', 'WALG_S3_PREFIX', 'WALG_GS_PREFIX', 'WALG_AZ_PREFIX'] as const;

type Getter = <T>(name: string) => T;

function bucketUrl(raw: RawValue, scheme: string, what: string): { bucket: string; prefix: string } {
  const m = new RegExp(`^${scheme}://([^/]+)(/.*)?$`).exec(raw.value.trim());
  if (!m || !/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/i.test(m[1]!)) {
    throw invalid(raw, `${scheme}://${what}/optional/path`);
  }
  return { bucket: m[1]!, prefix: normalisePrefix(m[2] ?? '') };
}

function missing(message: string, variable: string): WalshipError {
  return new WalshipError('CONFIG_MISSING', message, { details: { variable } });
}

export function parseStore(raw: ReadonlyMap<string, RawValue>, get: Getter): StoreConfig | undefined {
  const store = parseStorePrefix(raw, get);
  const sub = get<string | undefined>('WALG_STORAGE_PREFIX');
  if (store === undefined || sub === undefined) return store;
  // WAL-G's WALG_STORAGE_PREFIX is a folder inside the configured store (it
  // gives each Greenplum segment its own): the same here, for every store.
  const folder = normalisePrefix(sub.trim());
  if (folder.split('/').some((part) => part === '..' || part === '.')) throw invalid(raw.get('WALG_STORAGE_PREFIX')!, 'a folder path inside the store, without . or .. parts');
  if (folder === '') return store;
  if (store.kind === 'fs') return { ...store, root: resolve(store.root, folder) };
  return { ...store, prefix: store.prefix === '' ? folder : `${store.prefix}/${folder}` };
}

function parseStorePrefix(raw: ReadonlyMap<string, RawValue>, get: Getter): StoreConfig | undefined {
  const given = PREFIX_VARIABLES.filter((name) => raw.has(name));
  if (given.length > 1) {
    const list = given.map((n) => `${raw.get(n)!.name} (from ${raw.get(n)!.source})`).join(' and ');
    throw new WalshipError('CONFIG_CONFLICT', `two stores configured: ${list}; set exactly one store prefix`, { details: { variables: given } });
  }
  const chosen = given[0];
  if (chosen === undefined) return undefined;
  const value = raw.get(chosen)!;

  switch (chosen) {
    case 'WALG_FILE_PREFIX': {
      const text = value.value.trim();
      const path = text.startsWith('file://') ? fileURLToPath(text) : text;
      if (!isAbsolute(path)) throw invalid(value, 'an absolute directory path such as /mnt/backups/pg');
      return { kind: 'fs', root: resolve(path) };
    }
    case 'WALG_S3_PREFIX': {
      const { bucket, prefix } = bucketUrl(value, 's3', 'bucket');
      const keyId = get<string | undefined>('AWS_ACCESS_KEY_ID');
      const secret = get<string | undefined>('AWS_SECRET_ACCESS_KEY');
      const token = get<string | undefined>('AWS_SESSION_TOKEN');
      if (keyId !== undefined && secret === undefined) throw missing('AWS_SECRET_ACCESS_KEY is missing: AWS_ACCESS_KEY_ID is set, and needs its secret key', 'AWS_SECRET_ACCESS_KEY');
      if (secret !== undefined && keyId === undefined) throw missing('AWS_ACCESS_KEY_ID is missing: AWS_SECRET_ACCESS_KEY is set without it', 'AWS_ACCESS_KEY_ID');
      if (token !== undefined && keyId === undefined) throw missing('AWS_ACCESS_KEY_ID is missing: AWS_SESSION_TOKEN needs the temporary key id and secret with it', 'AWS_ACCESS_KEY_ID');
      if (get<string | undefined>('S3_SSE') === 'aws:kms' && get<string | undefined>('S3_SSE_KMS_ID') === undefined) {
        throw missing('S3_SSE_KMS_ID is missing: S3_SSE=aws:kms needs the KMS key id', 'S3_SSE_KMS_ID');
      }
      const endpoint = get<string | undefined>('AWS_ENDPOINT');
      const storageClass = get<string | undefined>('S3_STORAGE_CLASS');
      const sse = get<string | undefined>('S3_SSE');
      const sseKmsKeyId = get<string | undefined>('S3_SSE_KMS_ID');
      const caCertFile = get<string | undefined>('S3_CA_CERT_FILE');
      return {
        kind: 's3',
        bucket,
        prefix,
        region: get<string | undefined>('AWS_REGION'),
        forcePathStyle: get<boolean>('AWS_S3_FORCE_PATH_STYLE'),
        checksums: get<'when_supported' | 'when_required'>('WALSHIP_S3_CHECKSUMS'),
        endpoint,
        credentials: keyId === undefined || secret === undefined ? undefined : { accessKeyId: keyId, secretAccessKey: secret, sessionToken: token },
        storageClass,
        sse,
        sseKmsKeyId,
        caCertFile,
      };
    }
    case 'WALG_GS_PREFIX': {
      const { bucket, prefix } = bucketUrl(value, 'gs', 'bucket');
      const credentialsFile = get<string | undefined>('GOOGLE_APPLICATION_CREDENTIALS');
      const endpoint = get<string | undefined>('STORAGE_EMULATOR_HOST');
      return {
        kind: 'gcs',
        bucket,
        prefix,
        credentialsFile,
        endpoint,
      };
    }
    case 'WALG_AZ_PREFIX': {
      const { bucket: container, prefix } = bucketUrl(value, 'azure', 'container');
      const connectionString = get<string | undefined>('AZURE_STORAGE_CONNECTION_STRING');
      const account = get<string | undefined>('AZURE_STORAGE_ACCOUNT');
      const accessKey = get<string | undefined>('AZURE_STORAGE_ACCESS_KEY');
      const sasToken = get<string | undefined>('AZURE_STORAGE_SAS_TOKEN');
      const endpoint = get<string | undefined>('WALSHIP_AZ_ENDPOINT');
      if (connectionString === undefined) {
        if (account === undefined) throw missing('AZURE_STORAGE_ACCOUNT is missing: WALG_AZ_PREFIX needs the account name (or AZURE_STORAGE_CONNECTION_STRING)', 'AZURE_STORAGE_ACCOUNT');
        if (accessKey === undefined && sasToken === undefined) {
          throw missing('AZURE_STORAGE_ACCESS_KEY is missing: WALG_AZ_PREFIX needs AZURE_STORAGE_ACCESS_KEY or AZURE_STORAGE_SAS_TOKEN (or AZURE_STORAGE_CONNECTION_STRING)', 'AZURE_STORAGE_ACCESS_KEY');
        }
      }
      return {
        kind: 'azure',
        container,
        prefix,
        connectionString,
        account,
        accessKey,
        sasToken,
        endpoint,
      };
    }
  }
}
