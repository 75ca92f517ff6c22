import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { StoreConfig, TransferConfig } from '../../agent/config/types.ts';
import { isWalshipError } from '../../agent/errors.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { listAll } from '../../agent/storage/list.ts';
import { openStore } from '../../agent/storage/open.ts';
import { hashingTap } from '../../agent/util/hash-stream.ts';
import { through } from '../../agent/util/streams.ts';
import { generatedStream, peakRssMiB, readAll, sha256Of } from '../support/streams.ts';

// One suite, every store: the Litestream way. A driver is done when this
// passes against the real SDK talking HTTP to an emulator (or a temp dir).

export interface ContractHarness {
  /** A store config on a fresh, empty prefix. */
  config(prefix: string): StoreConfig;
  /** The same store with wrong credentials; absent for stores without credentials. */
  badCredentials?(prefix: string): StoreConfig;
  /** A config whose endpoint accepts connections and never answers; absent where no such thing exists. */
  unresponsive?(): Promise<{ config: StoreConfig; close(): Promise<void> }>;
  stop(): Promise<void>;
}

export interface ContractTarget {
  name: string;
  start(): Promise<ContractHarness>;
  /** Size of the big streamed object; 1 GiB unless a target has a reason. */
  bigObjectBytes?: number;
  /** Whether the harness provides badCredentials() and unresponsive(); the tests exist only where it does. */
  credentials: boolean;
  unresponsive: boolean;
}

export const testTransfer: TransferConfig = {
  requestTimeoutMs: 2_000,
  idleTimeoutMs: 4_000,
  maxAttempts: 2,
  baseBackoffMs: 50,
  maxBackoffMs: 200,
  uploadConcurrency: 4,
  downloadConcurrency: 4,
};

const GiB = 1024 * 1024 * 1024;

const bufferBody = (data: Buffer | string) => () => Readable.from([Buffer.from(data)]);

async function text(driver: StorageDriver, key: string, range?: { start: number; end?: number }): Promise<string> {
  const { body } = await driver.get(key, range ? { range } : {});
  return (await readAll(body)).toString();
}

export function runStorageContract(target: ContractTarget): void {
  describe(`storage contract: ${target.name}`, () => {
    let harness: ContractHarness;
    let driver: StorageDriver;
    const opened: StorageDriver[] = [];

    const open = async (config: StoreConfig, transfer: TransferConfig = testTransfer) => {
      const d = await openStore(config, transfer);
      opened.push(d);
      return d;
    };

    before(async () => {
      harness = await target.start();
      driver = await open(harness.config(`contract-${randomBytes(4).toString('hex')}`));
    });

    after(async () => {
      for (const d of opened) await d.close();
      await harness?.stop();
    });

    // First: peak RSS is a high-water mark for the whole process, so the
    // bounded-memory claim is checked before the thousands of small requests
    // below have grown the V8 heap.
    test('a streamed big object round-trips in bounded memory', { timeout: 300_000 }, async () => {
      const size = target.bigObjectBytes ?? GiB;
      // Hashed on its way up rather than in a pass of its own: that pass alone
      // would add its garbage to the peak this test measures.
      let tap = hashingTap();
      await driver.put('big/object', () => {
        tap = hashingTap();
        return through(generatedStream(size, 'big'), tap.stream);
      });
      const expected = { hex: tap.digest() };
      assert.equal((await driver.stat('big/object'))?.size, size);
      const { body } = await driver.get('big/object');
      const got = await sha256Of(body);
      assert.equal(got.bytes, size);
      assert.equal(got.hex, expected.hex);
      const { body: tail } = await driver.get('big/object', { range: { start: size - 10 } });
      assert.equal((await readAll(tail)).length, 10);
      assert.ok(peakRssMiB() < 300, `peak RSS ${peakRssMiB().toFixed(0)} MiB must stay under 300 MiB`);
      await driver.deleteMany(['big/object']);
    });

    test('put then get returns the same bytes and metadata', async () => {
      await driver.put('a/b/hello.txt', bufferBody('hello, store'), { metadata: { 'walship-compression': 'none', checksum: 'abc123' } });
      const { body, info } = await driver.get('a/b/hello.txt');
      assert.equal((await readAll(body)).toString(), 'hello, store');
      assert.equal(info.size, 12);
      assert.equal(info.metadata?.['walship-compression'], 'none');
      assert.equal(info.metadata?.checksum, 'abc123');
    });

    test('put replaces an existing object', async () => {
      await driver.put('replace/me', bufferBody('first'));
      await driver.put('replace/me', bufferBody('second, longer'));
      assert.equal(await text(driver, 'replace/me'), 'second, longer');
    });

    test('an empty object round-trips', async () => {
      await driver.put('empty', bufferBody(''));
      assert.equal(await text(driver, 'empty'), '');
      assert.equal((await driver.stat('empty'))?.size, 0);
    });

    test('stat reports size, time and metadata; undefined when absent', async () => {
      const before = Date.now();
      await driver.put('stat/x', bufferBody('12345'), { metadata: { kind: 'test' } });
      const info = await driver.stat('stat/x');
      assert.ok(info);
      assert.equal(info.key, 'stat/x');
      assert.equal(info.size, 5);
      assert.equal(info.metadata?.kind, 'test');
      assert.ok(Math.abs(info.lastModified.getTime() - before) < 60_000, 'lastModified is about now');
      assert.equal(await driver.stat('stat/missing'), undefined);
    });

    test('get of a missing key is STORE_NOT_FOUND', async () => {
      await assert.rejects(driver.get('nope/missing'), (e: unknown) => isWalshipError(e, 'STORE_NOT_FOUND'));
    });

    test('range reads return exactly the requested bytes', async () => {
      const data = randomBytes(300_000);
      await driver.put('range/obj', bufferBody(data));
      const read = async (start: number, end?: number) => {
        const { body } = await driver.get('range/obj', { range: end === undefined ? { start } : { start, end } });
        return readAll(body);
      };
      // Buffer.equals: a failing deepEqual on 300 KB buffers spends minutes building its diff.
      for (const [start, end] of [[0, 0], [1000, 1999], [299_990, undefined], [123_456, 299_999]] as const) {
        const got = await read(start, end);
        assert.ok(got.equals(data.subarray(start, end === undefined ? undefined : end + 1)), `range ${start}-${end ?? ''}: ${got.length} bytes`);
      }
    });

    test('list pages through more than 1000 keys in lexical order', async () => {
      const keys = Array.from({ length: 1005 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
      const queue = [...keys];
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let k = queue.shift(); k !== undefined; k = queue.shift()) await driver.put(k, bufferBody(k));
        }),
      );
      await driver.put('manyother/x', bufferBody('not listed'));

      const first = await driver.listPage('many/', { pageSize: 1000 });
      assert.ok(first.objects.length <= 1000);
      assert.ok(first.nextToken, 'a first page of a 1005-key listing has a continuation token');

      const listed: string[] = [];
      for await (const o of listAll(driver, 'many/')) listed.push(o.key);
      assert.deepEqual(listed, keys);

      const small: string[] = [];
      let pages = 0;
      for await (const o of listAll(driver, 'many/k0000', { pageSize: 3 })) {
        small.push(o.key);
        pages++;
      }
      assert.deepEqual(small, keys.slice(0, 10));
      const sizes = (await driver.listPage('many/', { pageSize: 2 })).objects;
      assert.equal(sizes.length, 2);
      assert.equal(sizes[0]?.size, 'many/k00000'.length);
      assert.ok(pages >= 10);

      // startAfter: the page begins right after that key, whether or not it exists.
      const after = await driver.listPage('many/', { startAfter: 'many/k00500', pageSize: 3 });
      assert.deepEqual(after.objects.map((o) => o.key), ['many/k00501', 'many/k00502', 'many/k00503']);
      const afterAbsent = await driver.listPage('many/', { startAfter: 'many/k01000~', pageSize: 10 });
      assert.deepEqual(afterAbsent.objects.map((o) => o.key), keys.slice(1001));
      assert.deepEqual((await driver.listPage('many/', { startAfter: 'many/k01004' })).objects, []);
    });

    test('deleteMany removes the keys and ignores missing ones', async () => {
      await driver.put('del/1', bufferBody('1'));
      await driver.put('del/2', bufferBody('2'));
      await driver.put('del/3', bufferBody('3'));
      await driver.deleteMany(['del/1', 'del/3', 'del/never-existed']);
      const left: string[] = [];
      for await (const o of listAll(driver, 'del/')) left.push(o.key);
      assert.deepEqual(left, ['del/2']);
      await driver.deleteMany([]);
    });

    test('deleteMany handles more keys than one request carries', async () => {
      const keys = Array.from({ length: 1003 }, (_, i) => `bulkdel/${i}`);
      await Promise.all(
        Array.from({ length: 16 }, async (_, w) => {
          for (let i = w; i < keys.length; i += 16) await driver.put(keys[i]!, bufferBody('x'));
        }),
      );
      await driver.deleteMany(keys);
      const left: string[] = [];
      for await (const o of listAll(driver, 'bulkdel/')) left.push(o.key);
      assert.deepEqual(left, []);
    });

    test('putIfAbsent writes once and never overwrites', async () => {
      assert.equal(await driver.putIfAbsent('once/obj', bufferBody('first'), { metadata: { n: '1' } }), true);
      assert.equal(await driver.putIfAbsent('once/obj', bufferBody('second')), false);
      const { body, info } = await driver.get('once/obj');
      assert.equal((await readAll(body)).toString(), 'first');
      assert.equal(info.metadata?.n, '1');
    });

    test('putIfAbsent racing itself: exactly one writer wins and its body is stored', async () => {
      for (let round = 0; round < 3; round++) {
        const key = `race/obj-${round}`;
        const bodies = Array.from({ length: 8 }, (_, i) => `writer-${i}-`.repeat(2000 + i));
        const results = await Promise.all(bodies.map((b) => driver.putIfAbsent(key, bufferBody(b))));
        const winners = results.flatMap((won, i) => (won ? [i] : []));
        assert.equal(winners.length, 1, `exactly one winner, got ${JSON.stringify(results)}`);
        assert.equal(await text(driver, key), bodies[winners[0]!]);
      }
    });

    test('invalid keys are refused before the store is touched', async () => {
      for (const key of ['', '/abs', 'a/../b', 'a//b', 'trailing/', '..', 'a\\b']) {
        await assert.rejects(driver.put(key, bufferBody('x')), (e: unknown) => isWalshipError(e, 'STORE_INVALID_KEY'), key);
      }
    });

    if (target.credentials) test('wrong credentials give a clear error, not a hang', async () => {
      assert.ok(harness.badCredentials, 'the harness provides badCredentials');
      const bad = await open(harness.badCredentials(`contract-bad-${randomBytes(3).toString('hex')}`));
      const started = Date.now();
      for (const op of [() => bad.put('x', bufferBody('x')), () => bad.get('x'), () => bad.listPage('')]) {
        await assert.rejects(op(), (e: unknown) => {
          assert.ok(isWalshipError(e), `a catalogue error, got ${String(e)}`);
          assert.ok(['STORE_AUTH', 'STORE_FORBIDDEN'].includes(e.code), `auth error, got ${e.code}: ${e.message}`);
          assert.match(e.message, /credential|denied|access/i);
          return true;
        });
      }
      assert.ok(Date.now() - started < 30_000);
    });

    if (target.unresponsive) test('a store that stops answering gives STORE_TIMEOUT within the deadline', async () => {
      assert.ok(harness.unresponsive, 'the harness provides unresponsive');
      const dead = await harness.unresponsive();
      try {
        const transfer = { ...testTransfer, requestTimeoutMs: 500, idleTimeoutMs: 500, maxAttempts: 2 };
        const stuck = await open(dead.config, transfer);
        const bound = transfer.maxAttempts * transfer.requestTimeoutMs + transfer.maxBackoffMs + 2_000;
        for (const [name, op] of [
          ['get', () => stuck.get('x')],
          ['stat', () => stuck.stat('x')],
          ['list', () => stuck.listPage('')],
          ['put', () => stuck.put('x', bufferBody('x'))],
          ['putIfAbsent', () => stuck.putIfAbsent('x', bufferBody('x'))],
          ['delete', () => stuck.deleteMany(['x'])],
        ] as const) {
          const started = Date.now();
          await assert.rejects(op(), (e: unknown) => isWalshipError(e, 'STORE_TIMEOUT'), name);
          const took = Date.now() - started;
          assert.ok(took < bound, `${name} gave up after ${took} ms, bound ${bound} ms`);
        }
      } finally {
        await dead.close();
      }
    });
  });
}
