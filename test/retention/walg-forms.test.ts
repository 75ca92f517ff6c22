import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeSentinel } from '../../agent/backup/catalog.ts';
import { partKey, sentinelKey, walgMetadataKey } from '../../agent/backup/layout.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';
import { seg, sentinel } from './fixtures.ts';
import { describeCli } from '../support/backup-harness.ts';
import { storeCli } from './store-cli.ts';

// WAL-G's forms of `delete`, as scripts written for WAL-G run them: retain
// FULL|FIND_FULL N, before FIND_FULL, target [FIND_FULL], everything FORCE,
// garbage ARCHIVES|BACKUPS; each checked against the objects left, key for key.

const DAY = 86_400_000;

describe("delete in WAL-G's forms against a filesystem store", () => {
  let root: string;
  let store: StorageDriver;
  let env: Record<string, string>;
  const { walship, ok, keys, put } = storeCli(() => ({ env, store }));
  const timed = (pos: number, days: number) => ({ ...sentinel({ pos, start: 0 }), startTime: new Date(Date.now() - days * DAY).toISOString(), finishTime: new Date(Date.now() - days * DAY + 60_000).toISOString() });
  const [b1, b2, b3, b4] = [timed(10, 4), timed(20, 3), timed(30, 2), timed(40, 1)] as const;
  const backupKeys = (b: typeof b1) => [partKey(b.name, 1, '.lz4'), b.manifestKey, walgMetadataKey(b.name), sentinelKey(b.name)];
  const walOf = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `wal_005/${seg(1, from + i)}.lz4`);
  const interrupted = `base_${seg(1, 35)}`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'walship-walg-forms-'));
    env = { WALG_FILE_PREFIX: root };
    store = await openStore({ kind: 'fs', root }, testTransfer);
    for (const b of [b1, b2, b3, b4]) {
      await put(partKey(b.name, 1, '.lz4'));
      await put(b.manifestKey);
      await writeSentinel(store, b);
    }
    for (let p = 5; p <= 45; p++) await put(`wal_005/${seg(1, p)}.lz4`);
    await put('unrelated/notes.txt');
    await put(partKey(interrupted, 1, '.lz4'));
    const old = new Date(Date.now() - 2 * DAY);
    await utimes(join(root, partKey(interrupted, 1, '.lz4')), old, old);
  });
  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  test('FULL and FIND_FULL plan exactly what the plain forms plan (every walship backup is full)', async () => {
    const initial = await keys();
    assert.equal(await ok('delete', 'retain', 'FIND_FULL', '2'), await ok('delete', 'retain', '2'));
    assert.equal(await ok('delete', 'retain', 'FULL', '3'), await ok('delete', 'retain', '3'));
    assert.equal(await ok('delete', 'before', 'FIND_FULL', b3.name), await ok('delete', 'before', b3.name));
    assert.equal(await ok('delete', 'target', 'FIND_FULL', b2.name), await ok('delete', 'target', b2.name));
    assert.match(await ok('delete', 'retain', 'FIND_FULL', '2'), new RegExp(`^would delete 2 backups:\\n  ${b1.name}  .*\\n  ${b2.name}  `, 'm'));
    assert.deepEqual(await keys(), initial);
  });

  test('garbage ARCHIVES deletes only old WAL, garbage BACKUPS only interrupted backups', async () => {
    const initial = await keys();
    const archives = await ok('delete', 'garbage', 'ARCHIVES', '--confirm');
    assert.match(archives, /^rule: delete WAL older than every backup$/m);
    assert.match(archives, new RegExp(`^deleted 5 WAL files: ${seg(1, 5)} \\.\\. ${seg(1, 9)}$`, 'm'));
    const gone = new Set(walOf(5, 9));
    assert.deepEqual(await keys(), initial.filter((k) => !gone.has(k)));

    const backups = await ok('delete', 'garbage', 'BACKUPS', '--confirm');
    assert.match(backups, /^rule: delete unfinished backups$/m);
    assert.match(backups, new RegExp(`^deleted 1 unfinished backup \\(1 object, no sentinel\\):\\n  ${interrupted} `, 'm'));
    gone.add(partKey(interrupted, 1, '.lz4'));
    assert.deepEqual(await keys(), initial.filter((k) => !gone.has(k)));
  });

  test('target deletes one backup and only the WAL it alone needed; a permanent one is refused', async () => {
    const initial = await keys();
    const middle = await ok('delete', 'target', b2.name, '--confirm');
    assert.match(middle, new RegExp(`^deleted 1 backup:\\n  ${b2.name}  `, 'm'));
    const gone = new Set(backupKeys(b2));
    assert.deepEqual(await keys(), initial.filter((k) => !gone.has(k)), 'an older backup still needs the WAL from its start: none goes');

    await ok('delete', 'target', 'FIND_FULL', b1.name, '--confirm');
    for (const k of [...backupKeys(b1), ...walOf(10, 29)]) gone.add(k);
    assert.deepEqual(await keys(), initial.filter((k) => !gone.has(k)));

    await ok('backup-mark', b3.name);
    const marked = await keys();
    const refused = await walship('delete', 'target', b3.name, '--confirm');
    assert.equal(refused.code, 73, describeCli(refused));
    assert.match(refused.stderr, new RegExp(`DELETE_REFUSED: refusing to delete backup ${b3.name}: it is permanent; clear the mark with backup-mark ${b3.name} --impermanent first`));
    assert.deepEqual(await keys(), marked);

    const missing = await walship('delete', 'target', 'base_000000010000000000000099');
    assert.notEqual(missing.code, 0, describeCli(missing));
    assert.match(missing.stderr, new RegExp(`no complete backup named base_000000010000000000000099; backups: ${b3.name}, ${b4.name}`));
    assert.deepEqual(await keys(), marked);

    await ok('delete', 'everything', 'FORCE', '--confirm');
    assert.deepEqual(await keys(), ['unrelated/notes.txt']);
  });

  test('malformed forms are refused with usage errors naming what was expected', async () => {
    const cases: [string[], RegExp][] = [
      [['delete', 'garbage', 'EVERYTHING'], /delete garbage EVERYTHING: expected nothing, ARCHIVES \(WAL older than every backup only\) or BACKUPS \(unfinished backups only\)/],
      [['delete', 'target', 'FIND_FULL'], /delete target FIND_FULL: expected delete target \[FIND_FULL\] <name>/],
      [['delete', 'target', 'FULL', 'base_000000010000000000000010'], /delete target FULL base_000000010000000000000010: expected delete target \[FIND_FULL\] <name> \(FIND_FULL is the only modifier\)/],
      [['delete', 'before', 'FIND_FULL'], /delete before FIND_FULL: expected delete before \[FIND_FULL\] <name\|time>/],
      [['delete', 'retain', 'FIND_FULL'], /delete retain: expected a number of backups to keep, at least 1, got nothing/],
      [['delete', 'retain', 'FIND_FULL', '0'], /delete retain: expected a number of backups to keep, at least 1, got "0"/],
    ];
    for (const [args, message] of cases) {
      const r = await walship(...args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${describeCli(r)}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
