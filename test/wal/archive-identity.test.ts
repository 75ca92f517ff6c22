import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../agent/config/load.ts';
import { isWalshipError } from '../../agent/errors.ts';
import { listAll } from '../../agent/storage/list.ts';
import { openStore } from '../../agent/storage/open.ts';
import { openWalArchive } from '../../agent/wal/archive.ts';
import { IDENTITY_KEY } from '../../agent/wal/cluster-identity.ts';
import { findArchived } from '../../agent/wal/layout.ts';
import { pushWalFile } from '../../agent/wal/push.ts';
import { testTransfer } from '../storage/contract.ts';
import { describeCli } from '../support/backup-harness.ts';
import { ALL_BACKUP_STORES, type BackupStore } from '../support/backup-stores.ts';
import { runWalship } from '../support/cli.ts';
import { archivedSegments } from '../support/wal-helpers.ts';
import { makeSegment, writeSegment } from '../support/wal-segments.ts';

// Issue 11, part 1, on every store: an archive that holds WAL but no
// walship/cluster.json has lost its identity (a volume or bucket swapped,
// the object deleted); one that suddenly looks empty to an agent that has
// archived into it is as suspicious. Neither may start a new history.

const SEG = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
const OURS = 7_300_000_000_000_000_001n;

for (const factory of ALL_BACKUP_STORES) {
  describe(`archive identity: ${factory.name}`, () => {
    let store: BackupStore | undefined;
    const dirs: string[] = [];

    after(async () => {
      await store?.stop();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    test('cluster.json deleted from an archive holding WAL: wal-push is refused; st init refuses, st init --force adopts the archive', { timeout: 120_000 }, async () => {
      store = await factory.start('identity-lost');
      const dir = await mkdtemp(join(tmpdir(), 'walship-identity-'));
      dirs.push(dir);
      const driver = await openStore(store.config, testTransfer);
      try {
        const first = await runWalship(['wal-push', await writeSegment(dir, { name: SEG(1) })], store.env);
        assert.equal(first.code, 0, describeCli(first));
        assert.ok(await driver.stat(IDENTITY_KEY), 'the first push records the identity');

        await driver.deleteMany([IDENTITY_KEY]);
        const refused = await runWalship(['wal-push', await writeSegment(dir, { name: SEG(2) })], store.env);
        assert.equal(refused.code, 65, describeCli(refused));
        assert.match(refused.stderr, new RegExp(`ARCHIVE_IDENTITY_MISSING: the archive at .* has lost its cluster identity: it holds wal_005/${SEG(1)}\\.lz4 but no walship/cluster\\.json\\. Refusing to start a new history`));
        assert.match(refused.stderr, /walship st init --force/, 'the message names the explicit way out');
        assert.equal(await driver.stat(IDENTITY_KEY), undefined, 'no new identity was recorded');
        assert.equal(await findArchived(driver, SEG(2)), undefined, 'the segment was not stored');

        const init = await runWalship(['st', 'init'], store.env);
        assert.equal(init.code, 65, describeCli(init));
        assert.match(init.stderr, /ARCHIVE_IDENTITY_MISSING/);
        const forced = await runWalship(['st', 'init', '--force'], store.env);
        assert.equal(forced.code, 0, describeCli(forced));
        assert.match(forced.stdout, new RegExp(`now belongs to database system ${OURS} \\(taken from wal_005/${SEG(1)}\\.lz4\\)`));

        const resumed = await runWalship(['wal-push', join(dir, SEG(2))], store.env);
        assert.equal(resumed.code, 0, describeCli(resumed));
        // The adopted identity guards the archive again.
        const foreign = await runWalship(['wal-push', await writeSegment(dir, { name: SEG(3), systemIdentifier: 42n })], store.env);
        assert.equal(foreign.code, 65, describeCli(foreign));
        assert.match(foreign.stderr, /WAL_FOREIGN_CLUSTER/);
        assert.deepEqual(await archivedSegments(driver), [SEG(1), SEG(2)]);
        const fetched = await runWalship(['wal-fetch', SEG(2), join(dir, 'fetched')], store.env);
        assert.equal(fetched.code, 0, describeCli(fetched));
        assert.deepEqual(await readFile(join(dir, 'fetched')), makeSegment({ name: SEG(2) }));
      } finally {
        await driver.close();
      }
    });

    test('an agent that has archived into the store refuses it once it looks empty, and starts no new history', { timeout: 60_000 }, async () => {
      const fresh = await factory.start('identity-emptied');
      const dir = await mkdtemp(join(tmpdir(), 'walship-identity-'));
      dirs.push(dir);
      const config = (await loadConfig({ env: fresh.env })).config;
      const driver = await openStore(config.store!, testTransfer);
      try {
        // One archive object for the process, as the agent holds one.
        const archive = await openWalArchive(config, driver);
        assert.equal((await pushWalFile(archive, await writeSegment(dir, { name: SEG(4) }))).outcome, 'uploaded');
        // The bucket (or volume) is swapped for an empty one.
        const keys: string[] = [];
        for await (const o of listAll(driver, '')) keys.push(o.key);
        await driver.deleteMany(keys);
        await assert.rejects(
          pushWalFile(archive, await writeSegment(dir, { name: SEG(5) })),
          (e: unknown) => isWalshipError(e, 'ARCHIVE_IDENTITY_MISSING') && /this process archived into it as database system 7300000000000000001, and walship\/cluster\.json is gone/.test(e.message),
        );
        const left: string[] = [];
        for await (const o of listAll(driver, '')) left.push(o.key);
        assert.deepEqual(left, [], 'nothing was written into the empty archive');
      } finally {
        await driver.close();
        await fresh.stop();
      }
    });
  });
}

describe('a filesystem store root that does not exist', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('is STORE_NO_BUCKET for every command, and is never made but by st init; the first push into the empty directory works', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'walship-noroot-'));
    dirs.push(dir);
    const root = join(dir, 'mnt', 'archive');
    const env = { WALG_FILE_PREFIX: root };
    const segment = await writeSegment(dir, { name: SEG(1) });
    const exists = (p: string) => stat(p).then(() => true, () => false);

    const push = await runWalship(['wal-push', segment], env);
    assert.equal(push.code, 69, describeCli(push));
    assert.match(push.stderr, new RegExp(`STORE_NO_BUCKET: .*the store's root directory ${root} does not exist .*walship st init`));
    assert.equal(await exists(join(dir, 'mnt')), false, 'nothing was made');
    // A restore from it stops recovery (126), rather than taking the missing root for the end of the archive (74).
    const fetched = await runWalship(['wal-fetch', SEG(1), join(dir, 'out')], env);
    assert.equal(fetched.code, 126, describeCli(fetched));
    assert.match(fetched.stderr, /STORE_NO_BUCKET/);
    const list = await runWalship(['backup-list'], env);
    assert.equal(list.code, 69, describeCli(list));
    assert.equal(await exists(join(dir, 'mnt')), false, 'still nothing was made');

    const init = await runWalship(['st', 'init'], env);
    assert.equal(init.code, 0, describeCli(init));
    assert.match(init.stdout, new RegExp(`^created ${root}$`, 'm'));
    assert.match(init.stdout, /is an empty archive; the first wal-push or backup-push records which cluster it belongs to/);
    assert.deepEqual(await readdir(root), []);
    const again = await runWalship(['st', 'init'], env);
    assert.equal(again.code, 0, describeCli(again));
    assert.doesNotMatch(again.stdout, /created/);

    const first = await runWalship(['wal-push', segment], env);
    assert.equal(first.code, 0, describeCli(first));
    const identity = JSON.parse(await readFile(join(root, 'walship', 'cluster.json'), 'utf8')) as { systemIdentifier: string; firstSegment: string };
    assert.equal(identity.systemIdentifier, String(OURS));
    assert.equal(identity.firstSegment, SEG(1));
    const initialised = await runWalship(['st', 'init', '--force'], env);
    assert.equal(initialised.code, 0, describeCli(initialised));
    assert.match(initialised.stdout, new RegExp(`is initialised: it belongs to database system ${OURS} .*--force changes nothing`));
    const out = join(dir, 'restored');
    const back = await runWalship(['wal-fetch', SEG(1), out], env);
    assert.equal(back.code, 0, describeCli(back));
    assert.deepEqual(await readFile(out), await readFile(segment));

    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const onFile = await runWalship(['st', 'init'], { WALG_FILE_PREFIX: file });
    assert.notEqual(onFile.code, 0);
    assert.match(onFile.stderr, /exists and is not a directory/);
  });

  test("a promoted clone's first file, its timeline history, starts no lost-identity alarm", { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'walship-history-'));
    dirs.push(dir);
    const root = join(dir, 'store');
    const env = { WALG_FILE_PREFIX: root };
    assert.equal((await runWalship(['st', 'init'], env)).code, 0);
    const history = join(dir, '00000002.history');
    await writeFile(history, '1\t0/3000000\tno recovery target specified\n');
    const pushed = await runWalship(['wal-push', history], env);
    assert.equal(pushed.code, 0, describeCli(pushed));
    const segment = await runWalship(['wal-push', await writeSegment(dir, { name: '000000020000000000000003' })], env);
    assert.equal(segment.code, 0, describeCli(segment));
    assert.ok(await stat(join(root, 'walship', 'cluster.json')), 'the segment recorded the identity');
  });
});
