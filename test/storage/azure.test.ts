import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { AzureStoreConfig } from '../../agent/config/types.ts';
import { isWalshipError } from '../../agent/errors.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { createDriver, openStore } from '../../agent/storage/open.ts';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzureEmulator } from '../support/azurite.ts';
import { generatedStream, readAll, sha256Of } from '../support/streams.ts';
import { runStorageContract, testTransfer } from './contract.ts';

// The emulator harness is itself a contract harness: config, badCredentials, unresponsive, stop.
runStorageContract({ name: 'azure (azurite)', credentials: true, unresponsive: true, start: () => startAzurite() });

const MiB = 1024 * 1024;
/** Three blocks at 16 MiB per block: two full, one short. */
const MULTIBLOCK_BYTES = 40 * MiB;
const small = (text: string) => () => Readable.from([Buffer.from(text)]);

describe('azure driver specifics', () => {
  let emulator: AzureEmulator;
  const opened: StorageDriver[] = [];
  let n = 0;

  before(async () => {
    emulator = await startAzurite();
  });

  after(async () => {
    for (const d of opened) await d.close();
    await emulator?.stop();
  });

  /** A bare driver (no retries around it) on a fresh prefix. */
  async function open(overrides: Partial<AzureStoreConfig> = {}): Promise<StorageDriver> {
    const driver = await createDriver(emulator.config(`specific-${n++}`, overrides), testTransfer);
    opened.push(driver);
    return driver;
  }

  async function roundTrip(store: StorageDriver): Promise<void> {
    await store.put('dir/obj', small('hello'));
    assert.equal((await readAll((await store.get('dir/obj')).body)).toString(), 'hello');
    assert.deepEqual((await store.listPage('dir/')).objects.map((o) => o.key), ['dir/obj']);
    await store.deleteMany(['dir/obj']);
    assert.equal(await store.stat('dir/obj'), undefined);
  }

  test('a connection string works like an account key', async () => {
    await roundTrip(await open({ account: undefined, accessKey: undefined, endpoint: undefined, connectionString: emulator.connectionString() }));
  });

  test('a SAS token works like an account key', async () => {
    const sasToken = generateBlobSASQueryParameters(
      { containerName: emulator.container, permissions: ContainerSASPermissions.parse('racwdl'), expiresOn: new Date(Date.now() + 3_600_000) },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
    await roundTrip(await open({ accessKey: undefined, sasToken }));
  });

  test('hyphenated metadata keys round-trip; keys Azure cannot name are refused before any request', async () => {
    const store = await open();
    const metadata = { 'walship-compression': 'lz4', 'walship-format-version': '1' };
    await store.put('meta', small('m'), { metadata });
    assert.deepEqual((await store.get('meta')).info.metadata, metadata);
    assert.deepEqual((await store.stat('meta'))?.metadata, metadata);
    assert.deepEqual((await store.listPage('meta')).objects[0]?.metadata, metadata);
    await assert.rejects(store.put('bad', small('x'), { metadata: { under_score: 'x' } }), (e: unknown) => isWalshipError(e, 'INTERNAL'));
  });

  test('a multi-block upload round-trips, and put-if-absent keeps the first one', async () => {
    const store = await open();
    const first = await sha256Of(generatedStream(MULTIBLOCK_BYTES, 'first'));
    assert.equal(await store.putIfAbsent('big', () => generatedStream(MULTIBLOCK_BYTES, 'first'), { metadata: { writer: 'first' } }), true);
    assert.equal(await store.putIfAbsent('big', () => generatedStream(MULTIBLOCK_BYTES, 'second'), { metadata: { writer: 'second' } }), false);
    const { body, info } = await store.get('big');
    assert.equal((await sha256Of(body)).hex, first.hex);
    assert.equal(info.size, MULTIBLOCK_BYTES);
    assert.equal(info.metadata?.writer, 'first');
  });

  test('two writers of one blob never commit a mix of their blocks, and the later one retries', async () => {
    // The first commit discards the other writer's uncommitted blocks, so the
    // other commit fails with InvalidBlockList: retryable, and the retry wins.
    const store = await openStore(emulator.config(`specific-${n++}`), testTransfer);
    opened.push(store);
    const seeds = ['one', 'two'];
    const hashes = await Promise.all(seeds.map(async (seed) => (await sha256Of(generatedStream(MULTIBLOCK_BYTES, seed))).hex));
    await Promise.all(seeds.map((seed) => store.put('contended', () => generatedStream(MULTIBLOCK_BYTES, seed))));
    const stored = await sha256Of((await store.get('contended')).body);
    assert.ok(hashes.includes(stored.hex), "the blob is one writer's body, whole");
  });

  test('a body that fails part-way leaves no blob', async () => {
    const store = await open();
    let sent = 0;
    const failing = () =>
      new Readable({
        read() {
          if (sent >= 20 * MiB) return this.destroy(new Error('producer failed'));
          sent += MiB;
          this.push(Buffer.alloc(MiB, 1));
        },
      });
    await assert.rejects(store.put('half', failing));
    assert.equal(await store.stat('half'), undefined);
  });

  test('a wrong account key is STORE_AUTH, and the key never appears in the message', async () => {
    const store = await createDriver(emulator.badCredentials('bad'), testTransfer);
    opened.push(store);
    for (const op of [() => store.put('x', small('x')), () => store.get('x'), () => store.listPage('')]) {
      await assert.rejects(op(), (e: unknown) => isWalshipError(e, 'STORE_AUTH') && !e.message.includes(AZURITE_KEY.slice(0, 12)));
    }
  });

  test('a missing container is STORE_NO_BUCKET', async () => {
    const store = await open({ container: 'no-such-container' });
    await assert.rejects(store.get('x'), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET'));
    await assert.rejects(store.stat('x'), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET'));
    await assert.rejects(store.put('x', small('x')), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET'));
    await assert.rejects(store.listPage(''), (e: unknown) => isWalshipError(e, 'STORE_NO_BUCKET'));
  });

  test('missing credentials are a configuration error', async () => {
    await assert.rejects(open({ accessKey: undefined }), (e: unknown) => isWalshipError(e, 'CONFIG_MISSING'));
  });
});
