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

// The delete and backup-mark commands, as users run them, over a filesystem
// store laid out by hand: four complete backups a day apart, their WAL, an
// interrupted backup and one that may still be running.

const DAY = 86_400_000;

describe('delete and backup-mark against a filesystem store', () => {
  let root: string;
  let store: StorageDriver;
  let env: Record<string, string>;
  const { walship, ok, keys, put } = storeCli(() => ({ env, store }));

  // Started 4, 3, 2 and 1 days ago, at segments 10, 20, 30 and 40.
  const backups = [10, 20, 30, 40].map((pos, i) => ({ ...sentinel({ pos, start: 0 }), startTime: new Date(Date.now() - (4 - i) * DAY).toISOString(), finishTime: new Date(Date.now() - (4 - i) * DAY + 60_000).toISOString() }));
  const [b1, b2, b3, b4] = backups as [typeof backups[0], typeof backups[0], typeof backups[0], typeof backups[0]];
  const interrupted = `base_${seg(1, 35)}`;
  const running = `base_${seg(1, 50)}`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'walship-retention-'));
    env = { WALG_FILE_PREFIX: root };
    store = await openStore({ kind: 'fs', root }, testTransfer);
    for (const b of backups) {
      await put(partKey(b.name, 1, '.lz4'));
      await put(b.manifestKey);
      await writeSentinel(store, b);
    }
    for (let p = 5; p <= 52; p++) await put(`wal_005/${seg(1, p)}.lz4`);
    await put(`wal_005/${seg(1, 12)}.00000028.backup.lz4`);
    await put('wal_005/00000002.history');
    await put('walship/cluster.json', '{}');
    await put('unrelated/notes.txt');
    await put(partKey(interrupted, 1, '.lz4'));
    const old = new Date(Date.now() - 2 * DAY);
    await utimes(join(root, partKey(interrupted, 1, '.lz4')), old, old);
    await put(partKey(running, 1, '.lz4'));
  });

  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  test('dry runs delete nothing; --confirm deletes exactly the plan; a marked backup survives', { timeout: 60_000 }, async () => {
    const initial = await keys();
    const walOf = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `wal_005/${seg(1, from + i)}.lz4`);
    const backupKeys = (b: typeof b1) => [partKey(b.name, 1, '.lz4'), b.manifestKey, walgMetadataKey(b.name), sentinelKey(b.name)];

    // Dry run: the plan, and not one object touched.
    const dry = await ok('delete', 'retain', '2');
    assert.match(dry, /^dry run: nothing is deleted; run again with --confirm to delete$/m);
    assert.match(dry, new RegExp(`^would delete 2 backups:\\n  ${b1.name}  started .*\\n  ${b2.name}  started `, 'm'));
    assert.match(dry, new RegExp(`^would delete 26 WAL files: ${seg(1, 5)} \\.\\. ${seg(1, 29)}$`, 'm'));
    assert.match(dry, new RegExp(`^keeping 2 backups:\\n  ${b3.name} .*\\n  ${b4.name} `, 'm'));
    assert.deepEqual(await keys(), initial);

    // Mark b2, then retain 2 for real: b1 goes, and the WAL below b3's start but b2's own (its start to its stop), nothing else.
    assert.equal((await ok('backup-mark', b2.name)).trim(), `${b2.name} is now permanent`);
    const listed = JSON.parse(await ok('backup-list', '--json')) as { name: string; permanent: boolean }[];
    assert.deepEqual(listed.map((b) => [b.name, b.permanent]), backups.map((b) => [b.name, b === b2]));
    const confirmed = await ok('delete', 'retain', '2', '--confirm');
    assert.match(confirmed, new RegExp(`^deleted 1 backup:\\n  ${b1.name}  `, 'm'));
    assert.match(confirmed, new RegExp(`^deleted 24 WAL files: ${seg(1, 5)} \\.\\. ${seg(1, 29)}$`, 'm'));
    assert.match(confirmed, new RegExp(`^  ${b2.name}  .*, permanent$`, 'm'));
    assert.match(confirmed, new RegExp(`^note: WAL ${seg(1, 20)} to ${seg(1, 21)} is kept for permanent backup ${b2.name}$`, 'm'));
    const gone1 = new Set([...backupKeys(b1), ...walOf(5, 19), ...walOf(22, 29), `wal_005/${seg(1, 12)}.00000028.backup.lz4`]);
    assert.deepEqual(await keys(), initial.filter((k) => !gone1.has(k)));

    // Unmarked, b2 goes with WAL-G's syntax; the history file never does.
    assert.equal((await ok('backup-mark', b2.name, '--impermanent')).trim(), `${b2.name} is no longer permanent`);
    await ok('delete', 'retain', 'FULL', '2', '--confirm');
    const gone2 = new Set([...gone1, ...backupKeys(b2), ...walOf(20, 29)]);
    assert.deepEqual(await keys(), initial.filter((k) => !gone2.has(k)));

    // Garbage: the interrupted backup goes, the recent one is skipped, and so is the WAL from b3 on.
    const garbage = await ok('delete', 'garbage', '--confirm');
    assert.match(garbage, new RegExp(`^deleted 1 unfinished backup \\(1 object, no sentinel\\):\\n  ${interrupted} `, 'm'));
    assert.match(garbage, new RegExp(`^skipped ${running}: no sentinel, but written to at .*may be a backup in progress`, 'm'));
    const gone3 = new Set([...gone2, partKey(interrupted, 1, '.lz4')]);
    assert.deepEqual(await keys(), initial.filter((k) => !gone3.has(k)));

    // Everything: refused while b4 is permanent, then FORCE takes it all but the unrelated object.
    await ok('backup-mark', b4.name);
    const refused = await walship('delete', 'everything', '--confirm');
    assert.equal(refused.code, 73, describeCli(refused));
    assert.match(refused.stderr, new RegExp(`DELETE_REFUSED: .*${b4.name} is permanent`));
    assert.deepEqual(await keys(), initial.filter((k) => !gone3.has(k)));
    const wiped = await ok('delete', 'everything', 'FORCE', '--confirm');
    assert.match(wiped, /^deleted 2 backups:/m);
    assert.match(wiped, new RegExp(`^deleted 24 WAL files: ${seg(1, 30)} \\.\\. ${seg(1, 52)}, and 1 history file$`, 'm'));
    assert.deepEqual(await keys(), ['unrelated/notes.txt']);

    const usage = await walship('delete', 'retain', '0');
    assert.equal(usage.code, 64, describeCli(usage));
  });
});
