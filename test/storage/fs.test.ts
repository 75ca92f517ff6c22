import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile, open as openFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { isWalshipError } from '../../agent/errors.ts';
import { openStore } from '../../agent/storage/open.ts';
import { readAll } from '../support/streams.ts';
import { runStorageContract, testTransfer } from './contract.ts';

const roots: string[] = [];

runStorageContract({
  name: 'fs',
  credentials: false,
  unresponsive: false,
  async start() {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    return {
      // Each prefix is a root of its own, made as `st init` would: the driver never makes one.
      config: (prefix) => (mkdirSync(join(root, prefix), { recursive: true }), { kind: 'fs', root: join(root, prefix) }),
      stop: () => rm(root, { recursive: true, force: true }),
    };
  },
});

describe('fs store specifics', () => {
  after(async () => {
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });

  test('objects are plain files, metadata is hidden, and no temp files remain', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    await store.put('wal_005/000000010000000000000001.lz4', () => Readable.from([Buffer.from('x')]), { metadata: { a: 'b' } });
    assert.equal(await store.putIfAbsent('wal_005/000000010000000000000002.lz4', () => Readable.from([Buffer.from('y')])), true);
    const names = await readdir(join(root, 'wal_005'));
    assert.deepEqual(names.filter((n) => !n.startsWith('.')).sort(), ['000000010000000000000001.lz4', '000000010000000000000002.lz4']);
    assert.ok(names.every((n) => !n.endsWith('.walship-tmp')), `no temp files: ${names.join(', ')}`);
    const listed = (await store.listPage('')).objects.map((o) => o.key);
    assert.deepEqual(listed, ['wal_005/000000010000000000000001.lz4', 'wal_005/000000010000000000000002.lz4']);
  });

  test('a failing body leaves neither object nor temp file behind', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    const failing = () =>
      new Readable({
        read() {
          this.destroy(new Error('source broke'));
        },
      });
    await assert.rejects(store.put('dir/obj', failing));
    await assert.rejects(store.putIfAbsent('dir/obj2', failing));
    assert.deepEqual(await readdir(join(root, 'dir')), []);
  });

  test('metadata of a replaced object never leaks to its successor', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    await store.put('k', () => Readable.from([Buffer.from('one')]), { metadata: { v: '1' } });
    // Another tool replaces the file without a sidecar (a different inode).
    await writeFile(join(root, 'k.new'), 'two');
    execFileSync('mv', [join(root, 'k.new'), join(root, 'k')]);
    const info = await store.stat('k');
    assert.equal(info?.metadata, undefined);
  });

  test('names reserved for the store itself are refused', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    await assert.rejects(store.put('.x.walship-meta', () => Readable.from([])), (e: unknown) => isWalshipError(e, 'STORE_INVALID_KEY'));
  });

  test('a read that hangs (a FIFO standing in for a dead NFS server) times out', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    execFileSync('mkfifo', [join(root, 'stuck')]);
    const store = await openStore({ kind: 'fs', root }, { ...testTransfer, requestTimeoutMs: 300, maxAttempts: 1 });
    const started = Date.now();
    await assert.rejects(store.get('stuck'), (e: unknown) => isWalshipError(e, 'STORE_TIMEOUT'));
    assert.ok(Date.now() - started < 2_000);
    // Release the thread blocked in open(2).
    const writer = await openFile(join(root, 'stuck'), 'w');
    await writer.close();
  });

  test('a store root that is a file is a clear error', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    await writeFile(join(root, 'file'), 'x');
    const store = await openStore({ kind: 'fs', root: join(root, 'file') }, testTransfer);
    await assert.rejects(store.put('a', () => Readable.from([Buffer.from('x')])), (e: unknown) => isWalshipError(e, 'STORE_REJECTED') && /ENOTDIR|EEXIST|not a directory|file already exists/i.test(e.message));
    const { body } = await openStore({ kind: 'fs', root }, testTransfer).then((s) => s.get('file'));
    assert.equal((await readAll(body)).toString(), 'x');
  });
});
