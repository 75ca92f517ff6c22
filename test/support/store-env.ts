import type { StoreConfig } from '../../agent/config/types.ts';

/** The WAL-G-style environment that configures a store, as a user's Secret would. */
export function storeEnv(store: StoreConfig): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: string, value: string | boolean | undefined) => {
    if (value !== undefined) env[name] = String(value);
  };
  const withPrefix = (scheme: string, bucket: string, prefix: string) => `${scheme}://${bucket}${prefix ? `/${prefix}` : ''}`;
  switch (store.kind) {
    case 'fs':
      set('WALG_FILE_PREFIX', store.root);
      break;
    case 's3':
      set('WALG_S3_PREFIX', withPrefix('s3', store.bucket, store.prefix));
      set('AWS_REGION', store.region);
      set('AWS_ENDPOINT', store.endpoint);
      set('AWS_S3_FORCE_PATH_STYLE', store.forcePathStyle);
      set('AWS_ACCESS_KEY_ID', store.credentials?.accessKeyId);
      set('AWS_SECRET_ACCESS_KEY', store.credentials?.secretAccessKey);
      set('AWS_SESSION_TOKEN', store.credentials?.sessionToken);
      set('WALSHIP_S3_CHECKSUMS', store.checksums);
      break;
    case 'gcs':
      set('WALG_GS_PREFIX', withPrefix('gs', store.bucket, store.prefix));
      set('GOOGLE_APPLICATION_CREDENTIALS', store.credentialsFile);
      set('STORAGE_EMULATOR_HOST', store.endpoint);
      break;
    case 'azure':
      set('WALG_AZ_PREFIX', withPrefix('azure', store.container, store.prefix));
      set('AZURE_STORAGE_CONNECTION_STRING', store.connectionString);
      set('AZURE_STORAGE_ACCOUNT', store.account);
      set('AZURE_STORAGE_ACCESS_KEY', store.accessKey);
      set('AZURE_STORAGE_SAS_TOKEN', store.sasToken);
      set('WALSHIP_AZ_ENDPOINT', store.endpoint);
      break;
  }
  return env;
}
