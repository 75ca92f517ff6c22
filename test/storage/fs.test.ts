import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { link, mkdtemp, readdir, rename, rm, stat, writeFile, open as openFile } from 'node:fs/promises';
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

  test('metadata of a replaced object never leaks to its successor: reading it fails, naming the cause', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    await store.put('k', () => Readable.from([Buffer.from('one')]), { metadata: { v: '1' } });
    // Another tool replaces the file without a sidecar (a different inode, the same size).
    await writeFile(join(root, 'k.new'), 'two');
    execFileSync('mv', [join(root, 'k.new'), join(root, 'k')]);
    const corrupt = (e: unknown) => isWalshipError(e, 'STORE_CORRUPT') && /stored bytes \(3 bytes, xxh64 [0-9a-f]{16}\) are not the ones its metadata describes/.test(e.message);
    await assert.rejects(store.stat('k'), corrupt);
    await assert.rejects(store.get('k').then(({ body }) => readAll(body)), corrupt);
    // A different size is told apart without reading the bytes.
    await writeFile(join(root, 'k.new'), 'three');
    execFileSync('mv', [join(root, 'k.new'), join(root, 'k')]);
    await assert.rejects(store.stat('k'), (e: unknown) => isWalshipError(e, 'STORE_CORRUPT') && /5 bytes\) are not the ones its metadata describes \(a different size\)/.test(e.message));
    // A sidecar that is not one is a clear error too.
    await writeFile(join(root, '.k.walship-meta'), '{"nope": true}');
    await assert.rejects(store.stat('k'), (e: unknown) => isWalshipError(e, 'STORE_CORRUPT') && /metadata file .*\.k\.walship-meta is unreadable/.test(e.message));
  });

  test('a crash between the two renames of an overwrite leaves the old object readable with its own metadata', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    await store.put('k', () => Readable.from([Buffer.from('old bytes')]), { metadata: { v: 'old' } });
    await link(join(root, 'k'), join(root, 'k.saved'));
    await store.put('k', () => Readable.from([Buffer.from('new bytes')]), { metadata: { v: 'new' } });
    assert.equal((await store.stat('k'))?.metadata?.v, 'new');
    // The state the crash leaves: the new sidecar is in place, the data rename never happened.
    await rename(join(root, 'k.saved'), join(root, 'k'));
    assert.equal((await store.stat('k'))?.metadata?.v, 'old');
    const { body, info } = await store.get('k');
    assert.equal(info.metadata?.v, 'old');
    assert.equal((await readAll(body)).toString(), 'old bytes');
    // And so does a copy of that state, where no inode matches.
    const copy = `${root}-copy`;
    roots.push(copy);
    execFileSync('cp', ['-a', root, copy]);
    assert.equal((await (await openStore({ kind: 'fs', root: copy }, testTransfer)).stat('k'))?.metadata?.v, 'old');
  });

  test('a store copied with cp -a, rsync -a or tar keeps every object\'s metadata, and a byte flipped in the copy is caught', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    const store = await openStore({ kind: 'fs', root }, testTransfer);
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    big.write('the middle', 1024 * 1024);
    await store.put('dir/big', () => Readable.from([big]), { metadata: { v: 'big' } });
    assert.equal(await store.putIfAbsent('dir/small', () => Readable.from([Buffer.from('small')]), { metadata: { v: 'small' } }), true);

    const copies: [string, (to: string) => void][] = [
      ['cp -a', (to) => execFileSync('cp', ['-a', root, to])],
      ['tar', (to) => {
        execFileSync('mkdir', [to]);
        execFileSync('sh', ['-c', 'tar -C "$1" -cf - . | tar -C "$2" -xpf -', 'sh', root, to]);
      }],
    ];
    copies.push(['rsync -a', (to) => execFileSync('rsync', ['-a', `${root}/`, `${to}/`])]);
    t.diagnostic(`copied with: ${copies.map(([how]) => how).join(', ')}`);
    for (const [how, copyTo] of copies) {
      const copy = `${root}-${how.replace(/\W+/g, '')}`;
      roots.push(copy);
      copyTo(copy);
      const copied = await openStore({ kind: 'fs', root: copy }, testTransfer);
      assert.equal((await copied.stat('dir/big'))?.metadata?.v, 'big', how);
      assert.equal((await copied.stat('dir/small'))?.metadata?.v, 'small', how);
      const { body, info } = await copied.get('dir/big');
      assert.equal(info.metadata?.v, 'big', how);
      assert.deepEqual(await readAll(body), big, how);
      const ranged = await copied.get('dir/big', { range: { start: 1024 * 1024, end: 1024 * 1024 + 9 } });
      assert.equal(ranged.info.metadata?.v, 'big', how);
      assert.equal((await readAll(ranged.body)).toString(), 'the middle', how);

      const handle = await openFile(join(copy, 'dir', 'big'), 'r+');
      await handle.write(Buffer.from([0x55]), 0, 1, 2 * 1024 * 1024);
      await handle.close();
      const corrupt = (e: unknown) => isWalshipError(e, 'STORE_CORRUPT') && /dir\/big: the stored bytes .* are not the ones its metadata describes/.test(e.message);
      await assert.rejects(copied.stat('dir/big'), corrupt, how);
      await assert.rejects(copied.get('dir/big').then(({ body }) => readAll(body)), corrupt, how);
      await assert.rejects(copied.get('dir/big', { range: { start: 0, end: 9 } }), corrupt, how);
      assert.equal((await copied.stat('dir/small'))?.metadata?.v, 'small', how);
    }
  });

  test('sidecars of earlier versions (no checksum of the stored bytes) still bind by inode, and by size in a copy', async () => {
    const root = await mkdtemp(join(tmpdir(), 'walship-fs-'));
    roots.push(root);
    await writeFile(join(root, 'k'), 'legacy');
    const { ino } = await stat(join(root, 'k'));
    await writeFile(join(root, '.k.walship-meta'), JSON.stringify({ ino, size: 6, metadata: { v: 'legacy' } }));
    assert.equal((await (await openStore({ kind: 'fs', root }, testTransfer)).stat('k'))?.metadata?.v, 'legacy');
    const copy = `${root}-copy`;
    roots.push(copy);
    execFileSync('cp', ['-a', root, copy]);
    assert.equal((await (await openStore({ kind: 'fs', root: copy }, testTransfer)).stat('k'))?.metadata?.v, 'legacy');
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
