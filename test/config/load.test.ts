import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../agent/config/load.ts';
import { isWalshipError, type ErrorCode } from '../../agent/errors.ts';

const PUBLIC_KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n';

async function rejectsWith(env: Record<string, string>, code: ErrorCode, pattern: RegExp, flags?: Record<string, string>) {
  await assert.rejects(loadConfig({ env, ...(flags ? { flags } : {}) }), (e: unknown) => {
    assert.ok(isWalshipError(e), `a catalogue error, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('defaults when nothing is set', async () => {
    const { config } = await loadConfig({ env: {} });
    assert.equal(config.store, undefined);
    assert.equal(config.codec.compression, 'lz4');
    assert.equal(config.codec.pgp, undefined);
    assert.equal(config.transfer.uploadConcurrency, 4);
    assert.equal(config.transfer.requestTimeoutMs, 30_000);
    assert.equal(config.pg.port, 5432);
    assert.equal(config.wal.preventOverwrite, true);
  });

  test("a WAL-G S3 Secret maps one to one", async () => {
    const { config } = await loadConfig({
      env: {
        WALG_S3_PREFIX: 's3://my-bucket/clusters/main/',
        AWS_ACCESS_KEY_ID: 'AKIA123',
        AWS_SECRET_ACCESS_KEY: 'sekrit',
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT: 'http://minio:9000',
        AWS_S3_FORCE_PATH_STYLE: 'true',
        S3_STORAGE_CLASS: 'standard_ia',
        S3_SSE: 'AES256',
        WALG_COMPRESSION_METHOD: 'zstd',
        WALG_UPLOAD_CONCURRENCY: '8',
        PGHOST: '/var/run/postgresql',
        HOME: '/root',
      },
    });
    assert.deepEqual(
      { ...config.store },
      {
        kind: 's3',
        bucket: 'my-bucket',
        prefix: 'clusters/main',
        region: 'eu-west-1',
        endpoint: 'http://minio:9000',
        forcePathStyle: true,
        checksums: 'when_supported',
        credentials: { accessKeyId: 'AKIA123', secretAccessKey: 'sekrit', sessionToken: undefined },
        storageClass: 'STANDARD_IA',
        sse: 'AES256',
        sseKmsKeyId: undefined,
        caCertFile: undefined,
      },
    );
    assert.equal(config.codec.compression, 'zstd');
    assert.equal(config.transfer.uploadConcurrency, 8);
    assert.equal(config.pg.host, '/var/run/postgresql');
  });

  test('WALE_S3_PREFIX is accepted as the old name', async () => {
    const { config } = await loadConfig({ env: { WALE_S3_PREFIX: 's3://bkt/p' } });
    assert.equal(config.store?.kind, 's3');
  });

  test('filesystem, GCS and Azure prefixes', async () => {
    assert.deepEqual((await loadConfig({ env: { WALG_FILE_PREFIX: '/backups/pg/' } })).config.store, { kind: 'fs', root: '/backups/pg' });
    const gcs = (await loadConfig({ env: { WALG_GS_PREFIX: 'gs://bkt/a/b', STORAGE_EMULATOR_HOST: '127.0.0.1:4443' } })).config.store;
    assert.equal(gcs?.kind === 'gcs' && `${gcs.bucket}|${gcs.prefix}|${gcs.endpoint}`, 'bkt|a/b|http://127.0.0.1:4443');
    const az = (await loadConfig({ env: { WALG_AZ_PREFIX: 'azure://ctr/x', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_ACCESS_KEY: 'a2V5' } })).config.store;
    assert.equal(az?.kind === 'azure' && `${az.container}|${az.prefix}|${az.account}`, 'ctr|x|acct');
  });

  test('each later source overrides the earlier: file < envdir < environment < flags', async () => {
    const file = join(dir, 'walship.yaml');
    await writeFile(file, 'WALG_FILE_PREFIX: /from/file\nWALG_COMPRESSION_METHOD: gzip\nWALG_UPLOAD_CONCURRENCY: 2\nWALG_DOWNLOAD_CONCURRENCY: 3\n');
    const envdir = join(dir, 'envdir');
    await mkdir(envdir);
    await writeFile(join(envdir, 'WALG_COMPRESSION_METHOD'), 'brotli\n');
    await writeFile(join(envdir, 'WALG_UPLOAD_CONCURRENCY'), '5\n');
    const { config } = await loadConfig({
      env: { WALSHIP_CONFIG: file, WALSHIP_ENVDIR: envdir, WALG_UPLOAD_CONCURRENCY: '6' },
      flags: { WALG_DOWNLOAD_CONCURRENCY: '9' },
    });
    assert.deepEqual(config.store, { kind: 'fs', root: '/from/file' });
    assert.equal(config.codec.compression, 'brotli');
    assert.equal(config.transfer.uploadConcurrency, 6);
    assert.equal(config.transfer.downloadConcurrency, 9);
  });

  test('an envdir mounted like a Kubernetes Secret, with multi-line values', async () => {
    const envdir = join(dir, 'k8s-secret');
    const data = join(envdir, '..2026_11_21');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'WALG_PGP_KEY'), PUBLIC_KEY);
    await writeFile(join(data, 'WALG_FILE_PREFIX'), '/b');
    await writeFile(join(data, 'unrelated-key'), 'ignored');
    await symlink('..2026_11_21', join(envdir, '..data'));
    await symlink('..data/WALG_PGP_KEY', join(envdir, 'WALG_PGP_KEY'));
    await symlink('..data/WALG_FILE_PREFIX', join(envdir, 'WALG_FILE_PREFIX'));
    const { config } = await loadConfig({ env: {}, flags: { WALSHIP_ENVDIR: envdir } });
    assert.equal(config.codec.pgp?.armoredKey, PUBLIC_KEY.trimEnd());
    assert.deepEqual(config.store, { kind: 'fs', root: '/b' });
  });

  test('an unknown WALG_ or WALSHIP_ variable is an error naming it, with a suggestion', async () => {
    await rejectsWith({ WALG_COMPRESION_METHOD: 'lz4' }, 'CONFIG_UNKNOWN_VARIABLE', /WALG_COMPRESION_METHOD.*did you mean WALG_COMPRESSION_METHOD/);
    await rejectsWith({ WALSHIP_NONSENSE: '1' }, 'CONFIG_UNKNOWN_VARIABLE', /WALSHIP_NONSENSE \(from environment\)/);
  });

  test('WAL-G settings walship does not use are tolerated with a warning', async () => {
    const { warnings } = await loadConfig({ env: { WALG_TAR_SIZE_THRESHOLD: '1000' } });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /WALG_TAR_SIZE_THRESHOLD/);
  });

  test('WAL-G features walship lacks are refused, not ignored', async () => {
    await rejectsWith({ WALG_LIBSODIUM_KEY: 'x' }, 'CONFIG_INVALID', /WALG_LIBSODIUM_KEY.*libsodium/);
  });

  test('malformed values name the variable and the source', async () => {
    await rejectsWith({ WALG_UPLOAD_CONCURRENCY: 'many' }, 'CONFIG_INVALID', /WALG_UPLOAD_CONCURRENCY \(from environment\): expected a whole number from 1 to 64, got "many"/);
    await rejectsWith({ WALG_COMPRESSION_METHOD: 'lzma' }, 'CONFIG_INVALID', /WALG_COMPRESSION_METHOD.*one of lz4, zstd, brotli, gzip, none/);
    await rejectsWith({ WALG_S3_PREFIX: 'bucket/path' }, 'CONFIG_INVALID', /WALG_S3_PREFIX.*s3:\/\/bucket/);
    await rejectsWith({ WALG_FILE_PREFIX: 'relative/dir' }, 'CONFIG_INVALID', /WALG_FILE_PREFIX.*absolute/);
    await rejectsWith({ WALSHIP_STORE_TIMEOUT: 'forever' }, 'CONFIG_INVALID', /WALSHIP_STORE_TIMEOUT.*duration/);
    await rejectsWith({ WALSHIP_BACKUP_CATALOG_INTERVAL: 'hourly' }, 'CONFIG_INVALID', /WALSHIP_BACKUP_CATALOG_INTERVAL \(from environment\): expected a duration such as 500ms, 30s or 5m, between 1000 ms and 86400 s, got "hourly"/);
    await rejectsWith({ WALSHIP_BACKUP_CATALOG_INTERVAL: '100ms' }, 'CONFIG_INVALID', /WALSHIP_BACKUP_CATALOG_INTERVAL.*between 1000 ms/);
    await rejectsWith({ AWS_S3_FORCE_PATH_STYLE: 'maybe' }, 'CONFIG_INVALID', /AWS_S3_FORCE_PATH_STYLE.*true or false/);
    await rejectsWith({ AWS_ENDPOINT: 'ftp://x' }, 'CONFIG_INVALID', /AWS_ENDPOINT/);
    await rejectsWith({}, 'CONFIG_INVALID', /WALG_UPLOAD_CONCURRENCY \(from command line\)/, { WALG_UPLOAD_CONCURRENCY: '0' });
  });

  test('two store prefixes at once is an error naming both', async () => {
    await rejectsWith({ WALG_FILE_PREFIX: '/a', WALG_S3_PREFIX: 's3://bkt/c' }, 'CONFIG_CONFLICT', /WALG_FILE_PREFIX.*WALG_S3_PREFIX/);
  });

  test('missing credentials are named', async () => {
    await rejectsWith({ WALG_S3_PREFIX: 's3://bkt', AWS_ACCESS_KEY_ID: 'AKIA' }, 'CONFIG_MISSING', /AWS_SECRET_ACCESS_KEY/);
    await rejectsWith({ WALG_S3_PREFIX: 's3://bkt', AWS_SECRET_ACCESS_KEY: 'x' }, 'CONFIG_MISSING', /AWS_ACCESS_KEY_ID/);
    await rejectsWith({ WALG_AZ_PREFIX: 'azure://ctr' }, 'CONFIG_MISSING', /AZURE_STORAGE_ACCOUNT/);
    await rejectsWith({ WALG_AZ_PREFIX: 'azure://ctr', AZURE_STORAGE_ACCOUNT: 'a' }, 'CONFIG_MISSING', /AZURE_STORAGE_ACCESS_KEY/);
    await rejectsWith({ WALG_S3_PREFIX: 's3://bkt', S3_SSE: 'aws:kms' }, 'CONFIG_MISSING', /S3_SSE_KMS_ID/);
    await rejectsWith({ WALG_PGP_KEY_PASSPHRASE: 'pw' }, 'CONFIG_MISSING', /WALG_PGP_KEY/);
  });

  test('PGP key checks: both forms at once, unreadable file, not a key', async () => {
    const keyFile = join(dir, 'key.asc');
    await writeFile(keyFile, PUBLIC_KEY);
    assert.equal((await loadConfig({ env: { WALG_PGP_KEY_PATH: keyFile } })).config.codec.pgp?.armoredKey, PUBLIC_KEY);
    await rejectsWith({ WALG_PGP_KEY: PUBLIC_KEY, WALG_PGP_KEY_PATH: keyFile }, 'CONFIG_CONFLICT', /WALG_PGP_KEY.*WALG_PGP_KEY_PATH/);
    await rejectsWith({ WALG_PGP_KEY_PATH: join(dir, 'nope.asc') }, 'CONFIG_INVALID', /WALG_PGP_KEY_PATH.*cannot read.*ENOENT/);
    await rejectsWith({ WALG_PGP_KEY: 'not a key' }, 'CONFIG_INVALID', /WALG_PGP_KEY .*armored/);
  });

  test('secrets never appear in errors', async () => {
    const secret = 'super-secret-value-42';
    for (const env of [
      { WALG_S3_PREFIX: 's3://bkt', AWS_SECRET_ACCESS_KEY: secret },
      { WALG_PGP_KEY: secret },
      { WALG_AZ_PREFIX: 'azure://ctr', AZURE_STORAGE_SAS_TOKEN: secret },
    ]) {
      await assert.rejects(loadConfig({ env }), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.doesNotMatch(e.message + JSON.stringify((e as { details?: unknown }).details ?? {}), new RegExp(secret));
        return true;
      });
    }
  });

  test('config file errors: unreadable, malformed, unknown keys', async () => {
    await rejectsWith({ WALSHIP_CONFIG: join(dir, 'missing.yaml') }, 'CONFIG_INVALID', /config file .*missing\.yaml: cannot read/);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'WALG_FILE_PREFIX: [unclosed');
    await rejectsWith({ WALSHIP_CONFIG: bad }, 'CONFIG_INVALID', /not valid YAML or JSON/);
    const unknown = join(dir, 'unknown.json');
    await writeFile(unknown, JSON.stringify({ FILE_PREFIX: '/x' }));
    await rejectsWith({ WALSHIP_CONFIG: unknown }, 'CONFIG_UNKNOWN_VARIABLE', /FILE_PREFIX \(from config file/);
    await rejectsWith({ WALSHIP_ENVDIR: join(dir, 'no-such-dir') }, 'CONFIG_INVALID', /envdir .*no-such-dir: cannot read/);
  });
});
