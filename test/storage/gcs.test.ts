import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { StoreConfig } from '../../agent/config/types.ts';
import { isWalshipError } from '../../agent/errors.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { openDownload } from '../../agent/storage/gcs/download.ts';
import { gcsError } from '../../agent/storage/gcs/errors.ts';
import type { JsonApi } from '../../agent/storage/gcs/json-api.ts';
import { createDriver, openStore } from '../../agent/storage/open.ts';
import { startBlackhole } from '../support/blackhole.ts';
import { startGcsHarness, TEST_BUCKET, type GcsHarness } from '../support/gcs-harness.ts';
import { startGcsServer } from '../support/gcs-server.ts';
import { generatedStream, readAll, sha256Of } from '../support/streams.ts';
import { runStorageContract, testTransfer } from './contract.ts';

runStorageContract({
  name: 'gcs',
  credentials: true,
  unresponsive: true,
  async start() {
    const h = await startGcsHarness();
    return {
      config: (prefix) => h.config(prefix, h.authorizedUserFile),
      badCredentials: (prefix) => h.config(prefix, h.wrongKeyFile),
      async unresponsive() {
        const hole = await startBlackhole();
        return { config: { kind: 'gcs', bucket: TEST_BUCKET, prefix: 'stuck', endpoint: hole.url }, close: hole.close };
      },
      stop: () => h.stop(),
    };
  },
});

const MiB = 1024 * 1024;
const small = (text: string) => () => Readable.from([Buffer.from(text)]);

describe('gcs driver specifics', () => {
  let h: GcsHarness;
  const opened: StorageDriver[] = [];
  let n = 0;
  const prefix = () => `specific-${n++}`;

  /** A bare driver: no retries or deadlines around it, so what is seen is the driver's own doing. */
  async function bare(config: StoreConfig): Promise<StorageDriver> {
    const d = await createDriver(config, testTransfer);
    opened.push(d);
    return d;
  }

  before(async () => {
    h = await startGcsHarness();
  });

  after(async () => {
    for (const d of opened) await d.close();
    await h?.stop();
  });

  test('a service-account key file authenticates (the server checks its signatures)', async () => {
    const store = await openStore(h.config(prefix(), h.keyFile), testTransfer);
    await store.put('sa/obj', small('signed'), { metadata: { by: 'service-account' } });
    const { body, info } = await store.get('sa/obj');
    assert.equal((await readAll(body)).toString(), 'signed');
    assert.equal(info.metadata?.by, 'service-account');
    assert.deepEqual((await store.listPage('sa/')).objects.map((o) => o.key), ['sa/obj']);
    await store.deleteMany(['sa/obj']);
  });

  test('a refresh token the token endpoint refuses is STORE_AUTH, for every operation', async () => {
    const store = await openStore(h.config(prefix(), h.revokedUserFile), testTransfer);
    for (const op of [() => store.put('x', small('x')), () => store.get('x'), () => store.stat('x'), () => store.listPage(''), () => store.deleteMany(['x'])]) {
      await assert.rejects(op(), (e: unknown) => isWalshipError(e, 'STORE_AUTH') && /invalid_grant/.test(e.message));
    }
  });

  test('an emulator endpoint without a credentials file is used without credentials', async () => {
    const open = await startGcsServer({ buckets: [TEST_BUCKET] });
    try {
      const store = await bare({ kind: 'gcs', bucket: TEST_BUCKET, prefix: 'anon', endpoint: open.url });
      await store.put('k', small('no auth needed'));
      assert.equal((await readAll((await store.get('k')).body)).toString(), 'no auth needed');
      await store.put('big', () => generatedStream(9 * MiB, 'anon'));
      assert.equal((await store.stat('big'))?.size, 9 * MiB);
    } finally {
      await open.stop();
    }
  });

  test('a bucket that does not exist is STORE_NO_BUCKET, not a missing object', async () => {
    const store = await bare({ ...h.config(prefix()), bucket: 'no-such-bucket' });
    for (const op of [() => store.put('x', small('x')), () => store.get('x'), () => store.stat('x'), () => store.listPage(''), () => store.deleteMany(['x'])]) {
      await assert.rejects(op(), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET') && /bucket/.test(e.message));
    }
  });

  test('an unusable credentials file is a configuration error that does not quote the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'walship-gcs-badkey-'));
    try {
      const file = join(dir, 'key.json');
      await writeFile(file, '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----SECRETSECRET", ');
      const broken = await bare(h.config(prefix(), file));
      await assert.rejects(broken.put('x', small('x')), (e: unknown) => isWalshipError(e, 'CONFIG_INVALID') && e.message.includes(file) && !/SECRET/.test(e.message));
      const missing = await bare(h.config(prefix(), join(dir, 'absent.json')));
      await assert.rejects(missing.stat('x'), (e: unknown) => isWalshipError(e, 'CONFIG_INVALID') && /ENOENT/.test(e.message));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('cancelling one download leaves the others in flight intact', async () => {
    const store = await bare(h.config(prefix()));
    await store.put('shared', () => generatedStream(32 * MiB, 'shared'));
    const [a, b] = await Promise.all([store.get('shared'), store.get('shared')]);
    b.body.on('error', () => undefined);
    b.body.once('data', () => b.body.destroy());
    const got = await sha256Of(a.body);
    assert.equal(got.hex, (await sha256Of(generatedStream(32 * MiB, 'shared'))).hex);
  });

  test('an aborted download and an aborted upload stop at once and store nothing', async () => {
    const store = await bare(h.config(prefix()));
    await store.put('dl', () => generatedStream(32 * MiB, 'dl'));
    const reading = new AbortController();
    const { body } = await store.get('dl', { signal: reading.signal });
    setTimeout(() => reading.abort(new Error('reader gave up')), 10);
    await assert.rejects(sha256Of(body), /reader gave up/);

    const writing = new AbortController();
    setTimeout(() => writing.abort(new Error('writer gave up')), 200);
    const started = Date.now();
    await assert.rejects(store.put('ul', () => generatedStream(1024 * MiB, 'ul'), { signal: writing.signal }), /writer gave up/);
    assert.ok(Date.now() - started < 2_000, `abort took ${Date.now() - started} ms`);
    assert.equal(await store.stat('ul'), undefined);
  });

  test('putIfAbsent of bodies too large for one request (resumable uploads) still has exactly one winner', async () => {
    const store = await bare(h.config(prefix()));
    const results = await Promise.all([1, 2, 3].map((i) => store.putIfAbsent('race/large', () => generatedStream(9 * MiB, `writer-${i}`))));
    const winners = results.flatMap((won, i) => (won ? [i + 1] : []));
    assert.equal(winners.length, 1, JSON.stringify(results));
    const { body } = await store.get('race/large');
    assert.equal((await sha256Of(body)).hex, (await sha256Of(generatedStream(9 * MiB, `writer-${winners[0]}`))).hex);
    assert.equal(await store.putIfAbsent('race/large', small('late')), false);
  });

  test('get() returns the bytes of the generation its metadata describes, even if the key is overwritten meanwhile', async () => {
    const store = await bare(h.config(prefix()));
    await store.put('moving', () => generatedStream(4 * MiB, 'old'), { metadata: { v: 'old' } });
    const { body, info } = await store.get('moving');
    await store.put('moving', () => generatedStream(4 * MiB, 'new'), { metadata: { v: 'new' } });
    assert.equal(info.metadata?.v, 'old');
    assert.equal((await sha256Of(body)).hex, (await sha256Of(generatedStream(4 * MiB, 'old'))).hex);
  });

  test('a download that ends short, or with other bytes than stored, is an error', async () => {
    const resource = { name: 'x', generation: '1', size: '10', md5Hash: createHash('md5').update('0123456789').digest('base64') };
    const api = (bytes: string) => ({ readObject: async () => Readable.from([Buffer.from(bytes)]) }) as unknown as JsonApi;
    const read = async (bytes: string, range?: { start: number; end?: number }) =>
      readAll(await openDownload(api(bytes), 'x', resource, range, 'gs://b/x', (e) => e as Error));
    assert.equal((await read('0123456789')).toString(), '0123456789');
    await assert.rejects(read('01234'), (e: unknown) => isWalshipError(e, 'STORE_REQUEST_FAILED') && /5 bytes of 10/.test(e.message));
    await assert.rejects(read('0123456780'), (e: unknown) => isWalshipError(e, 'STORE_REQUEST_FAILED') && /MD5/.test(e.message));
    assert.equal((await read('234', { start: 2, end: 4 })).toString(), '234');
    assert.equal((await read('', { start: 10 })).length, 0);
  });

  test('errors keep resumable session URLs (upload capabilities) out of messages and causes', () => {
    const raw = Object.assign(new Error('request to http://h/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=SeCrEt123 failed, reason: socket hang up'), {
      code: 'ECONNRESET',
      config: { headers: { Authorization: 'Bearer ya29.secret' } },
    });
    const err = gcsError({ op: 'put', location: 'gs://b', key: 'k' }, raw);
    assert.equal(err.code, 'STORE_UNREACHABLE');
    const everything = JSON.stringify({ message: err.message, details: err.details, cause: err.cause, causeMessage: (err.cause as Error).message });
    assert.doesNotMatch(everything, /SeCrEt123|ya29/);
  });
});
