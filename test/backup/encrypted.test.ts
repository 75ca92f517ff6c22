import assert from 'node:assert/strict';
import { access, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';
import { generateTestKey } from '../support/pgp-keys.ts';
import { archiveAll, describeCli, fetchAndStart, fingerprint, listBackups, pushBackup, restoreRoot, startArchivingSource, walshipCommand, backupTestResources } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';

// An encrypted store (WALG_PGP_KEY): the source archives and backs up with
// the public key alone; a restore needs the private key, and fails clearly
// with any other key or with a tampered part.

const exists = (path: string) => access(path).then(() => true, () => false);

describe('backups in an encrypted store', () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;

  test('round trip with the private key; the wrong key and a tampered part fail clearly', { timeout: 180_000 }, async () => {
    const [key, wrongKey] = await Promise.all([generateTestKey('curve25519Legacy', { passphrase: 'walship test passphrase' }), generateTestKey('curve25519Legacy')]);
    const store = (resources.store = await filesystemStore.start(''));
    const storeRoot = store.config.kind === 'fs' ? store.config.root : assert.fail('a filesystem store');
    const archiving = { ...store.env, WALG_PGP_KEY: key.armoredPublic };
    const restoring = { ...store.env, WALG_PGP_KEY: key.armoredPrivate, WALG_PGP_KEY_PASSPHRASE: key.passphrase! };
    const wrong = { ...store.env, WALG_PGP_KEY: wrongKey.armoredPrivate };

    const source = await startArchivingSource(archiving);
    clusters.push(source);
    await source.query("create table secrets (id int primary key, note text); insert into secrets select g, 'secret-' || g from generate_series(1, 20000) g");
    const name = await pushBackup(source, archiving);
    await source.query("update secrets set note = note || '!' where id % 3 = 0");
    const expected = await fingerprint(source, ['secrets']);
    await archiveAll(source);

    const [backup] = await listBackups(archiving);
    assert.equal(backup?.name, name);
    assert.deepEqual(backup?.encoding, { compression: 'lz4', encrypted: true });
    const partDir = join(storeRoot, 'basebackups_005', name, 'tar_partitions');
    const parts = (await readdir(partDir)).filter((f) => f.startsWith('part_')).sort();
    assert.ok(parts.length > 0);
    const firstBytes = Buffer.alloc(4);
    const handle = await open(join(partDir, parts[0]!), 'r');
    await handle.read(firstBytes, 0, 4, 0);
    await handle.close();
    assert.notDeepEqual(firstBytes, Buffer.from([0x04, 0x22, 0x4d, 0x18]), 'the part is not a plain LZ4 frame');

    // The wrong key: refused before anything is written.
    const wrongWhere = await restoreRoot();
    dirs.push(wrongWhere.root);
    const refused = await runWalship(['backup-fetch', wrongWhere.dataDir, 'LATEST', '--restore-command', walshipCommand('wal-fetch %f %p')], wrong);
    assert.equal(refused.code, 77, describeCli(refused));
    assert.match(refused.stderr, /walship: CRYPTO_KEY_MISMATCH: /);
    assert.equal(await exists(join(wrongWhere.dataDir, 'global', 'pg_control')), false);

    // A tampered encrypted part.
    const largest = (await Promise.all(parts.map(async (p) => ({ p, size: (await stat(join(partDir, p))).size })))).sort((a, b) => b.size - a.size)[0]!;
    const target = join(partDir, largest.p);
    const flip = async () => {
      const h = await open(target, 'r+');
      const b = Buffer.alloc(1);
      const at = Math.floor(largest.size / 2);
      await h.read(b, 0, 1, at);
      b[0] = b[0]! ^ 0x01;
      await h.write(b, 0, 1, at);
      await h.close();
    };
    await flip();
    const tamperedWhere = await restoreRoot();
    dirs.push(tamperedWhere.root);
    const tampered = await runWalship(['backup-fetch', tamperedWhere.dataDir, 'LATEST', '--restore-command', walshipCommand('wal-fetch %f %p')], restoring);
    await flip();
    assert.equal(tampered.code, 65, describeCli(tampered));
    assert.match(tampered.stderr, /walship: (CRYPTO_INTEGRITY|CODEC_CORRUPT|BACKUP_CORRUPT|STORE_CORRUPT): /);
    assert.ok(tampered.stderr.includes(largest.p), `names the part: ${tampered.stderr}`);
    assert.equal(await exists(join(tamperedWhere.dataDir, 'global', 'pg_control')), false);

    // The right key: restored, recovered through encrypted WAL, exact.
    const where = await restoreRoot();
    dirs.push(where.root);
    const restored = await fetchAndStart(restoring, where, 'LATEST');
    clusters.push(restored.cluster);
    assert.equal(restored.backup, name);
    assert.deepEqual(await fingerprint(restored.cluster, ['secrets']), expected);
  });
});
