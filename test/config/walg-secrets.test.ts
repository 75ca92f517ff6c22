import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { createCodec } from '../../agent/codec/index.ts';
import { loadConfig } from '../../agent/config/load.ts';
import { configurationReference } from '../../agent/config/reference.ts';
import { IGNORED_WALG_SETTINGS, UNSUPPORTED_WALG_SETTINGS, classifyWalgName } from '../../agent/config/walg-settings.ts';
import { isWalshipError } from '../../agent/errors.ts';
import { walLikeBuffer } from '../support/codec-data.ts';
import { readAll } from '../support/streams.ts';

// Secrets written for WAL-G load into walship as they are: what walship
// implements is used, the rest is named in a warning that says why, and
// what it cannot do safely is refused with what to do instead.

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

async function refused(env: Record<string, string>, variable: string, instead: RegExp): Promise<void> {
  await assert.rejects(loadConfig({ env }), (err: unknown) => {
    assert.ok(isWalshipError(err, 'CONFIG_INVALID'), String(err));
    assert.match(err.message, new RegExp(`^${variable} \\(from environment\\): `));
    assert.match(err.message, instead);
    return true;
  });
}

describe('Secrets written for WAL-G', () => {
  test("the WAL-G tutorial's Secret loads unchanged, with a warning for each setting not used", async () => {
    const { config, warnings } = await loadConfig({ env: { WALSHIP_ENVDIR: fixture('walg-tutorial') } });
    assert.deepEqual(
      { kind: config.store?.kind, ...(config.store?.kind === 's3' ? { bucket: config.store.bucket, prefix: config.store.prefix, region: config.store.region, sse: config.store.sse, storageClass: config.store.storageClass } : {}) },
      { kind: 's3', bucket: 'backup-bucket', prefix: 'pg/main', region: 'eu-central-1', sse: 'AES256', storageClass: 'STANDARD_IA' },
    );
    assert.equal(config.codec.compression, 'brotli');
    assert.equal(config.transfer.uploadConcurrency, 16);
    assert.equal(config.pg.pgdata, '/var/lib/postgresql/15/main');
    // The one-line key with literal \n is an armored key again.
    assert.equal(config.codec.pgp?.armoredKey, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZexample\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----');
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.ok(warnings.some((w) => /^WALG_DELTA_MAX_STEPS=6 .*delta backups are not implemented yet; every backup is full/.test(w)));
    assert.ok(warnings.some((w) => /^WALG_UPLOAD_DISK_CONCURRENCY .* is ignored: walship bounds its work by WALG_UPLOAD_CONCURRENCY/.test(w)));
    assert.ok(warnings.some((w) => /^WALG_TAR_SIZE_THRESHOLD .* is ignored: .*WALSHIP_BACKUP_PART_SIZE/.test(w)));
  });

  test("the Spilo guide's Secret loads unchanged; its clone-mode variables point to the clone overlay", async () => {
    const { config, warnings } = await loadConfig({ env: { WALSHIP_ENVDIR: fixture('spilo-guide') } });
    assert.equal(config.store?.kind, 's3');
    assert.ok(config.store?.kind === 's3' && config.store.bucket === 'postgresql' && config.store.prefix === 'spilo/acid-minimal-cluster/wal/15');
    assert.ok(config.store?.kind === 's3' && config.store.endpoint === 'http://minio.minio.svc:9000' && config.store.forcePathStyle);
    const clone = warnings.filter((w) => w.startsWith('CLONE_'));
    assert.equal(clone.length, 9);
    for (const w of clone) assert.match(w, /is ignored: a Spilo clone-mode setting: .*k8s-examples\/overlays\/clone/);
    assert.ok(warnings.some((w) => /^BACKUP_NUM_TO_RETAIN .*WALSHIP_RETENTION_FULL/.test(w)));
    assert.ok(warnings.some((w) => /^BACKUP_SCHEDULE .*WALSHIP_BACKUP_SCHEDULE/.test(w)));
    assert.ok(warnings.some((w) => /^WALE_S3_ENDPOINT .*AWS_ENDPOINT/.test(w)));
    assert.ok(warnings.some((w) => /^WALG_DISABLE_S3_SSE .*S3_SSE/.test(w)));
    assert.ok(warnings.some((w) => /^WAL_S3_BUCKET .*WALG_S3_PREFIX/.test(w)));
    assert.equal(warnings.length, clone.length + 7, warnings.join('\n'));
  });

  test("WAL-G's names for the S3, GCS, Azure and filesystem settings are aliases", async () => {
    const s3 = await loadConfig({
      env: { WALG_S3_PREFIX: 's3://bkt/p', WALG_S3_SSE: 'aws:kms', WALE_S3_SSE_KMS_ID: 'key-1', WALG_S3_STORAGE_CLASS: 'glacier_ir', WALG_S3_CA_CERT_FILE: '/etc/ca.pem', AWS_DEFAULT_REGION: 'sa-east-1' },
    });
    assert.deepEqual(
      s3.config.store?.kind === 's3' && [s3.config.store.sse, s3.config.store.sseKmsKeyId, s3.config.store.storageClass, s3.config.store.caCertFile, s3.config.store.region],
      ['aws:kms', 'key-1', 'GLACIER_IR', '/etc/ca.pem', 'sa-east-1'],
    );
    assert.deepEqual((await loadConfig({ env: { WALE_GS_PREFIX: 'gs://bucket/x' } })).config.store, { kind: 'gcs', bucket: 'bucket', prefix: 'x', credentialsFile: undefined, endpoint: undefined });
    assert.deepEqual((await loadConfig({ env: { WALE_FILE_PREFIX: '/mnt/archive' } })).config.store, { kind: 'fs', root: '/mnt/archive' });
    const az = (await loadConfig({ env: { WALG_AZ_PREFIX: 'azure://container/p', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'k' } })).config.store;
    assert.ok(az?.kind === 'azure' && az.accessKey === 'k');
  });

  test("WALG_STORAGE_PREFIX is a folder inside the store, as in WAL-G", async () => {
    const s3 = (await loadConfig({ env: { WALG_S3_PREFIX: 's3://bkt/p', WALG_STORAGE_PREFIX: '/seg0/' } })).config.store;
    assert.ok(s3?.kind === 's3' && s3.prefix === 'p/seg0');
    const fs = (await loadConfig({ env: { WALG_FILE_PREFIX: '/mnt/archive', WALG_STORAGE_PREFIX: 'seg1' } })).config.store;
    assert.deepEqual(fs, { kind: 'fs', root: '/mnt/archive/seg1' });
    await assert.rejects(loadConfig({ env: { WALG_FILE_PREFIX: '/mnt/archive', WALG_STORAGE_PREFIX: '../elsewhere' } }), (e: unknown) => isWalshipError(e, 'CONFIG_INVALID') && /WALG_STORAGE_PREFIX/.test(e.message));
  });

  test('without AWS_REGION the region is left to the bucket, and no default is invented', async () => {
    const { config } = await loadConfig({ env: { WALG_S3_PREFIX: 's3://bkt/p' } });
    assert.ok(config.store?.kind === 's3' && config.store.region === undefined);
  });

  test('WALG_ZSTD_LEVEL sets the zstd level of new objects, and a bad level is named', async () => {
    const { config } = await loadConfig({ env: { WALG_COMPRESSION_METHOD: 'zstd', WALG_ZSTD_LEVEL: '19' } });
    assert.equal(config.codec.zstdLevel, 19);
    const plain = await walLikeBuffer(2 << 20, 'zstd level');
    const fast = await readAll((await createCodec({ compression: 'zstd' })).encode(Readable.from([plain])));
    const tight = await readAll((await createCodec(config.codec)).encode(Readable.from([plain])));
    assert.ok(tight.length < fast.length, `level 19 (${tight.length} bytes) packs tighter than level 1 (${fast.length})`);
    assert.ok((await readAll((await createCodec({ compression: 'zstd' })).decode(Readable.from([tight]), { compression: 'zstd', encrypted: false }))).equals(plain));
    await assert.rejects(loadConfig({ env: { WALG_ZSTD_LEVEL: '30' } }), (e: unknown) => isWalshipError(e, 'CONFIG_INVALID') && /WALG_ZSTD_LEVEL/.test(e.message));
  });

  test('transport settings without a counterpart are accepted with a warning that says why, under every WAL-G spelling', async () => {
    for (const name of ['S3_RANGE_BATCH_ENABLED', 'WALG_S3_RANGE_BATCH_ENABLED', 'WALE_S3_MAX_RETRIES', 'GCS_MAX_RETRIES', 'WALG_GCS_CONTEXT_TIMEOUT', 'AZURE_BUFFER_SIZE']) {
      const { warnings } = await loadConfig({ env: { [name]: '1' } });
      assert.equal(warnings.length, 1, name);
      assert.match(warnings[0]!, new RegExp(`^${name} \\(from environment\\) is ignored: walship .*`));
    }
  });

  test('what walship cannot honour is refused, saying what to do instead', async () => {
    await refused({ S3_SSE_C: 'a'.repeat(32) }, 'S3_SSE_C', /SSE-C.*use S3_SSE=aws:kms or WALG_PGP_KEY/);
    await refused({ WALG_S3_SSE_C: 'a'.repeat(32) }, 'WALG_S3_SSE_C', /SSE-C/);
    await refused({ GCS_ENCRYPTION_KEY: 'k' }, 'GCS_ENCRYPTION_KEY', /customer-supplied.*WALG_PGP_KEY/);
    await refused({ WALG_FAILOVER_STORAGES: '{}' }, 'WALG_FAILOVER_STORAGES', /configure one store/);
    await refused({ S3_RETENTION_MODE: 'COMPLIANCE' }, 'S3_RETENTION_MODE', /default retention on the bucket/);
  });

  test('the configuration reference lists every ignored and every refused variable with its reason', () => {
    const reference = configurationReference();
    for (const [name, why] of Object.entries({ ...IGNORED_WALG_SETTINGS, ...UNSUPPORTED_WALG_SETTINGS })) {
      assert.ok(reference.includes(`\`${name}\``), name);
      assert.ok(reference.includes(why.replace(/\|/g, '\\|')), `${name}'s reason`);
    }
    assert.ok(reference.includes('`CLONE_*`'));
    assert.equal(classifyWalgName('PATH'), undefined, 'other variables are none of walship\'s business');
  });
});
