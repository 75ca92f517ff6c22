import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { S3StoreConfig } from '../../agent/config/types.ts';
import { isWalshipError } from '../../agent/errors.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { createDriver, openStore } from '../../agent/storage/open.ts';
import { startS3Proxy, type Fault, type S3Proxy } from '../support/s3-proxy.ts';
import { startS3rver, type S3Emulator } from '../support/s3rver.ts';
import { generatedStream, readAll, sha256Of } from '../support/streams.ts';
import { runStorageContract, testTransfer } from './contract.ts';

// The emulator harness is itself a contract harness: config, badCredentials, unresponsive, stop.
runStorageContract({ name: 's3 (s3rver)', credentials: true, unresponsive: true, start: () => startS3rver() });

const MiB = 1024 * 1024;
/** Three parts at 16 MiB per part: two full, one short. */
const MULTIPART_BYTES = 40 * MiB;
const small = (text: string) => () => Readable.from([Buffer.from(text)]);

describe('s3 driver specifics', () => {
  let emulator: S3Emulator;
  const cleanups: (() => Promise<void>)[] = [];
  let n = 0;

  before(async () => {
    emulator = await startS3rver();
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await emulator?.stop();
  });

  /** A bare driver (no retries around it) talking to the emulator through a recording proxy. */
  async function viaProxy(fault?: Fault, overrides: Partial<S3StoreConfig> = {}): Promise<{ store: StorageDriver; proxy: S3Proxy }> {
    const proxy = await startS3Proxy(emulator.endpoint, fault);
    const store = await createDriver(emulator.config(`specific-${n++}`, { endpoint: proxy.url, ...overrides }), testTransfer);
    cleanups.push(() => store.close(), () => proxy.close());
    return { store, proxy };
  }

  const isUploadPart = (url: string) => /[?&]partNumber=/.test(url);
  const isComplete = (method: string, url: string) => method === 'POST' && /[?&]uploadId=/.test(url);
  const isAbort = (method: string, url: string) => method === 'DELETE' && /[?&]uploadId=/.test(url);

  test('storage class and SSE-KMS go on the requests that create objects, not on parts', async () => {
    const { store, proxy } = await viaProxy(undefined, { storageClass: 'STANDARD_IA', sse: 'aws:kms', sseKmsKeyId: 'alias/walship' });
    await store.put('small', small('x'));
    await store.put('large', () => generatedStream(MULTIPART_BYTES, 'sse'));
    const creating = proxy.seen.filter((r) => (r.method === 'PUT' && !isUploadPart(r.url)) || (r.method === 'POST' && /[?&]uploads/.test(r.url)));
    assert.equal(creating.length, 2, 'one PutObject, one CreateMultipartUpload');
    for (const r of creating) {
      assert.equal(r.headers['x-amz-storage-class'], 'STANDARD_IA');
      assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms');
      assert.equal(r.headers['x-amz-server-side-encryption-aws-kms-key-id'], 'alias/walship');
    }
    const parts = proxy.seen.filter((r) => isUploadPart(r.url));
    assert.equal(parts.length, 3);
    for (const r of parts) assert.equal(r.headers['x-amz-server-side-encryption'], undefined);
  });

  test('a multipart upload whose part fails is aborted and leaves no object', async () => {
    const { store, proxy } = await viaProxy((r) => (r.url.includes('partNumber=2') ? { status: 500, code: 'InternalError' } : undefined));
    await assert.rejects(store.put('broken', () => generatedStream(MULTIPART_BYTES, 'broken')), (e: unknown) => isWalshipError(e, 'STORE_REQUEST_FAILED'));
    assert.ok(proxy.seen.some((r) => isAbort(r.method, r.url)), 'AbortMultipartUpload was sent');
    assert.ok(!proxy.seen.some((r) => isComplete(r.method, r.url)), 'CompleteMultipartUpload was not sent');
    assert.equal(await store.stat('broken'), undefined);
  });

  test('put-if-absent of a multipart body conditions the completion, and keeps the first body and metadata', async () => {
    const { store, proxy } = await viaProxy();
    const first = await sha256Of(generatedStream(MULTIPART_BYTES, 'first'));
    assert.equal(await store.putIfAbsent('once', () => generatedStream(MULTIPART_BYTES, 'first'), { metadata: { writer: 'first' } }), true);
    assert.equal(await store.putIfAbsent('once', () => generatedStream(MULTIPART_BYTES, 'second'), { metadata: { writer: 'second' } }), false);
    const completes = proxy.seen.filter((r) => isComplete(r.method, r.url));
    assert.equal(completes.length, 2);
    for (const r of completes) assert.equal(r.headers['if-none-match'], '*');
    assert.ok(proxy.seen.some((r) => isAbort(r.method, r.url)), 'the refused upload was aborted');
    const { body, info } = await store.get('once');
    assert.equal((await sha256Of(body)).hex, first.hex);
    assert.equal(info.size, MULTIPART_BYTES);
    assert.equal(info.metadata?.writer, 'first');
  });

  test('a 409 ConditionalRequestConflict is retried, not taken for "already exists"', async () => {
    let conflicts = 0;
    const proxy = await startS3Proxy(emulator.endpoint, (r) =>
      r.headers['if-none-match'] === '*' && conflicts++ === 0 ? { status: 409, code: 'ConditionalRequestConflict' } : undefined,
    );
    const store = await openStore(emulator.config('conflict', { endpoint: proxy.url }), testTransfer);
    cleanups.push(() => store.close(), () => proxy.close());
    assert.equal(await store.putIfAbsent('obj', small('mine')), true);
    assert.equal(conflicts, 2);
  });

  test('DeleteObjects per-key failures are errors, missing keys are not', async () => {
    const perKey = (code: string) => ({
      status: 200,
      xml: `<DeleteResult><Error><Key>specific-x/k</Key><Code>${code}</Code><Message>m</Message></Error></DeleteResult>`,
    });
    let answer = perKey('AccessDenied');
    const { store } = await viaProxy((r) => (r.method === 'POST' && /[?&]delete/.test(r.url) ? answer : undefined));
    await assert.rejects(store.deleteMany(['k']), (e: unknown) => isWalshipError(e, 'STORE_FORBIDDEN'));
    answer = perKey('NoSuchKey');
    await store.deleteMany(['k']);
  });

  test("with checksums 'when_required', DeleteObjects carries the Content-MD5 older S3-compatible stores demand", async () => {
    const { store, proxy } = await viaProxy();
    await store.put('d', small('x'));
    await store.deleteMany(['d']);
    const del = proxy.seen.find((r) => r.method === 'POST' && /[?&]delete/.test(r.url));
    assert.ok(del?.headers['content-md5'], 'Content-MD5 was sent');
    assert.equal(del.headers['content-md5'], del.bodyMd5);
  });

  test('a store that ignores Range and sends the whole object is refused, not trusted', async () => {
    const { store } = await viaProxy((r) => (r.method === 'GET' && r.headers.range ? { status: 200, xml: '<WholeObject/>' } : undefined));
    await assert.rejects(store.get('any', { range: { start: 5, end: 9 } }), (e: unknown) => isWalshipError(e, 'STORE_REJECTED'));
  });

  test('a wrong access key id is STORE_AUTH', async () => {
    const store = await createDriver(
      emulator.config('auth', { credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'S3RVER' } }),
      testTransfer,
    );
    cleanups.push(() => store.close());
    await assert.rejects(store.put('x', small('x')), (e: unknown) => isWalshipError(e, 'STORE_AUTH') && !e.message.includes('S3RVER'));
  });

  test('a missing bucket is STORE_NO_BUCKET', async () => {
    const store = await createDriver({ ...emulator.config('nb'), bucket: 'no-such-bucket' }, testTransfer);
    cleanups.push(() => store.close());
    await assert.rejects(store.get('x'), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET'));
    await assert.rejects(store.put('x', small('x')), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET'));
    await assert.rejects(store.listPage(''), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET'));
  });

  test('an aborted upload stops promptly and releases its source', async () => {
    const { store, proxy } = await viaProxy();
    // A producer that stalls after 20 MiB, as a stuck pipeline would.
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced < 20 * MiB) {
          produced += MiB;
          this.push(Buffer.alloc(MiB));
        }
      },
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('caller gave up')), 300);
    const started = Date.now();
    await assert.rejects(store.put('stalled', () => source, { signal: controller.signal }));
    assert.ok(Date.now() - started < 2_000, 'rejected soon after the abort');
    assert.ok(source.destroyed, 'the source was destroyed');
    assert.ok(proxy.seen.some((r) => isAbort(r.method, r.url)), 'the started multipart upload was aborted');
  });

  test('the emulator outage fails requests with a retryable error until resumed', async () => {
    const store = await createDriver(emulator.config('outage'), testTransfer);
    cleanups.push(() => store.close());
    await emulator.pause();
    try {
      await assert.rejects(store.put('x', small('x')), (e: unknown) => isWalshipError(e, 'STORE_REQUEST_FAILED') && e.retryable);
    } finally {
      await emulator.resume();
    }
    await store.put('x', small('back'));
    assert.equal((await readAll((await store.get('x')).body)).toString(), 'back');
  });

  test('an unreadable CA file is a configuration error', async () => {
    await assert.rejects(
      createDriver(emulator.config('ca', { caCertFile: '/nonexistent/ca.pem' }), testTransfer),
      (e: unknown) => isWalshipError(e, 'CONFIG_INVALID'),
    );
  });
});
