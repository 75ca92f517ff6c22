import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listBackups, readCatalogue, writeSentinel } from '../../agent/backup/catalog.ts';
import { partKey, sentinelKey, walgMetadataKey } from '../../agent/backup/layout.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { openStore } from '../../agent/storage/open.ts';
import { recordIdentity } from '../../agent/wal/cluster-identity.ts';
import { testTransfer } from '../storage/contract.ts';
import { writeWalgBackup } from '../support/walg-backup.ts';
import { seg, sentinel } from './fixtures.ts';
import { describeCli } from '../support/backup-harness.ts';
import { storeCli } from './store-cli.ts';

// A prefix WAL-G and walship both wrote backups to, as after a migration
// that left WAL-G's backups in place: walship lists them as WAL-G's, never
// takes one for LATEST, refuses to restore or mark one (naming why), and its
// retention never deletes one nor the WAL from its start.

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY);

describe('a prefix holding WAL-G backups beside walship backups', () => {
  let root: string;
  let store: StorageDriver;
  let env: Record<string, string>;
  const { walship, ok, keys, put } = storeCli(() => ({ env, store }));

  // walship's backups at segments 10, 30 and 40; WAL-G's full at 20 and its delta at 25.
  const timed = (pos: number, days: number) => ({ ...sentinel({ pos, start: 0 }), startTime: ago(days).toISOString(), finishTime: new Date(ago(days).getTime() + 60_000).toISOString() });
  const [w1, w2, w3] = [timed(10, 4), timed(30, 2), timed(40, 1)] as const;
  const walshipKeys = (b: typeof w1) => [partKey(b.name, 1, '.lz4'), b.manifestKey, walgMetadataKey(b.name), sentinelKey(b.name)];
  let g1: Awaited<ReturnType<typeof writeWalgBackup>>;
  let g2: Awaited<ReturnType<typeof writeWalgBackup>>;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'walship-walg-mixed-'));
    env = { WALG_FILE_PREFIX: root };
    store = await openStore({ kind: 'fs', root }, testTransfer);
    await recordIdentity(store, { systemIdentifier: '7000000000000000001', pgVersion: 150000, segmentSize: 16 * 1024 * 1024 }, seg(1, 5));
    for (const b of [w1, w2, w3]) {
      await put(partKey(b.name, 1, '.lz4'));
      await put(b.manifestKey);
      await writeSentinel(store, b);
    }
    g1 = await writeWalgBackup(store, { pos: 20, startTime: ago(3), finishTime: new Date(ago(3).getTime() + 60_000) });
    g2 = await writeWalgBackup(store, { pos: 25, startTime: ago(2.5), finishTime: new Date(ago(2.5).getTime() + 60_000), delta: { from: g1.name, fullName: g1.name, fromPos: 20, count: 1 } });
    for (let p = 5; p <= 45; p++) await put(`wal_005/${seg(1, p)}.lz4`);
  });

  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  test('backup-list shows both tools, oldest first, WAL-G\'s marked; the agent\'s catalogue counts only walship\'s', async () => {
    const table = (await ok('backup-list')).split('\n');
    const toolOf = (name: string) => /(walship|wal-g delta|wal-g)$/.exec(table.find((l) => l.startsWith(`${name} `)) ?? '')?.[1];
    assert.equal(toolOf(w1.name), 'walship');
    assert.equal(toolOf(g1.name), 'wal-g');
    assert.equal(toolOf(g2.name), 'wal-g delta');
    const listed = JSON.parse(await ok('backup-list', '--json')) as { backup_name: string; tool: string; wal_file_name: string; time: string }[];
    assert.deepEqual(listed.map((b) => [b.backup_name, b.tool, b.wal_file_name]), [
      [w1.name, 'walship', w1.startWalFile],
      [g1.name, 'wal-g', seg(1, 20)],
      [g2.name, 'wal-g', seg(1, 25)],
      [w2.name, 'walship', w2.startWalFile],
      [w3.name, 'walship', w3.startWalFile],
    ]);
    const detail = JSON.parse(await ok('backup-list', '--json', '--detail')) as { backup_name: string; start_lsn: number; finish_lsn: number; hostname: string; system_identifier: number; delta?: { from: string } }[];
    const g2Detail = detail.find((b) => b.backup_name === g2.name)!;
    assert.equal(g2Detail.start_lsn, 25 * 16 * 1024 * 1024 + 0x28);
    assert.equal(g2Detail.hostname, 'walg-host');
    assert.equal(g2Detail.delta?.from, g1.name);

    assert.deepEqual((await listBackups(store)).map((b) => b.name), [w1.name, w2.name, w3.name]);
    const catalogue = await readCatalogue(store);
    assert.deepEqual(catalogue.walg.map((b) => [b.name, b.startWalFile, b.stopWalFile, b.systemIdentifier]), [
      [g1.name, seg(1, 20), seg(1, 20), '7000000000000000001'],
      [g2.name, seg(1, 25), seg(1, 25), '7000000000000000001'],
    ]);
    assert.deepEqual(catalogue.foreign, []);
  });

  test('LATEST is walship\'s newest; a damaged WAL-G backup fails naming its part, a delta is refused saying why, and so is marking one', async () => {
    assert.equal((JSON.parse(await ok('backup-show', 'LATEST')) as { name: string }).name, w3.name);
    const shown = JSON.parse(await ok('backup-show', g2.name)) as { name: string; tool: string; delta: { from: string }; startLsn: string };
    assert.deepEqual([shown.name, shown.tool, shown.delta.from, shown.startLsn], [g2.name, 'wal-g', g1.name, '0/19000028']);
    const dest = await mkdtemp(join(tmpdir(), 'walship-walg-dest-'));
    try {
      const full = await walship('backup-fetch', join(dest, 'full'), g1.name);
      // The full one is restored as WAL-G's: its placeholder partitions are no lz4, and the restore says which object.
      assert.equal(full.code, 65, describeCli(full));
      assert.match(full.stderr, new RegExp(`CODEC_CORRUPT|BACKUP_CORRUPT`));
      assert.match(full.stderr, new RegExp(`basebackups_005/${g1.name}/tar_partitions/part_001\\.tar\\.lz4`));
      assert.equal(await readdir(join(dest, 'full')).then((e) => e.includes('global')), false, 'no pg_control was written');
      const delta = await walship('backup-fetch', join(dest, 'delta'), g2.name);
      assert.equal(delta.code, 65, describeCli(delta));
      assert.match(delta.stderr, new RegExp(`BACKUP_WALG_FORMAT: backup ${g2.name} .* is a WAL-G delta backup \\(on ${g1.name}, chain from ${g1.name}\\): walship cannot apply WAL-G's page deltas`));
      assert.deepEqual(await readdir(join(dest, 'delta')), [], 'nothing was restored');
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
    const before = await keys();
    const target = await walship('delete', 'target', g1.name, '--confirm');
    assert.equal(target.code, 65, describeCli(target));
    assert.match(target.stderr, new RegExp(`BACKUP_WALG_FORMAT: backup ${g1.name} was taken by WAL-G: walship's delete never removes WAL-G's backups; delete it with wal-g delete target ${g1.name}`));
    const mark = await walship('backup-mark', g1.name);
    assert.equal(mark.code, 65, describeCli(mark));
    assert.match(mark.stderr, /BACKUP_WALG_FORMAT/);
    assert.deepEqual(await keys(), before);
  });

  test('retention keeps every WAL-G backup and the WAL from the oldest one\'s start; garbage leaves them be; everything takes them', { timeout: 60_000 }, async () => {
    const initial = await keys();
    const dry = await ok('delete', 'retain', '1');
    assert.match(dry, new RegExp(`^would delete 2 backups:\\n  ${w1.name}  .*\\n  ${w2.name}  `, 'm'));
    assert.match(dry, new RegExp(`^would delete 15 WAL files: ${seg(1, 5)} \\.\\. ${seg(1, 19)}$`, 'm'));
    assert.match(dry, new RegExp(`^keeping 2 WAL-G backups \\(walship's retention never deletes WAL-G's backups, nor the WAL from their start\\):\\n  ${g1.name}  .*\\n  ${g2.name}  `, 'm'));
    assert.match(dry, new RegExp(`^WAL from ${seg(1, 20)} on is kept \\(the start of ${g1.name}\\)$`, 'm'));
    assert.match(dry, new RegExp(`^note: backup ${g1.name} was taken by WAL-G: walship's retention keeps it`, 'm'));
    assert.deepEqual(await keys(), initial);

    await ok('delete', 'retain', '1', '--confirm');
    const walOf = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `wal_005/${seg(1, from + i)}.lz4`);
    const gone = new Set([...walshipKeys(w1), ...walshipKeys(w2), ...walOf(5, 19)]);
    assert.deepEqual(await keys(), initial.filter((k) => !gone.has(k)));
    for (const k of [...g1.keys, ...g2.keys]) assert.ok((await keys()).includes(k), `${k} survives`);

    for (const rule of [['garbage'], ['window', '1h'], ['before', w3.name]]) {
      await ok('delete', ...rule, '--confirm');
      assert.deepEqual(await keys(), initial.filter((k) => !gone.has(k)), `delete ${rule.join(' ')} deletes nothing more`);
    }

    const wiped = await ok('delete', 'everything', '--confirm');
    assert.match(wiped, new RegExp(`^note: backup ${g1.name} was taken by WAL-G: it goes too$`, 'm'));
    assert.deepEqual(await keys(), []);
  });
});
