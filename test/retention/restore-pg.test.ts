import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openStore } from '../../agent/storage/open.ts';
import { listAll } from '../../agent/storage/list.ts';
import { WAL_PREFIX } from '../../agent/wal/layout.ts';
import { parseWalFileName } from '../../agent/wal/names.ts';
import { testTransfer } from '../storage/contract.ts';
import { runWalship } from '../support/cli.ts';

import { archiveAll, describeCli, fetchAndStart, listBackups, pushBackup, restoreRoot, startArchivingSource, backupTestResources } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';
import { assertContiguous } from '../support/wal-helpers.ts';

// The WAL of kept backups is kept: after `delete retain 2 --confirm`, the
// oldest kept backup still restores and recovers to the end of the archive,
// with a real PostgreSQL 15 archiving through walship wal-push.

describe('retention keeps what a restore of the oldest kept backup needs', () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;

  test('three backups, retain 2, restore the second to the end of the archive', { timeout: 300_000 }, async (t) => {
    const store = (resources.store = await filesystemStore.start('retention'));
    const source = await startArchivingSource(store.env);
    clusters.push(source);
    await source.query('create table t (id serial primary key, phase text not null)');
    const write = async (phase: string) => {
      await source.query(`insert into t (phase) select $1 from generate_series(1, 1000)`, [phase]);
      await archiveAll(source);
    };

    const started = Date.now();
    await write('before 1');
    const names: string[] = [];
    for (const phase of ['after 1', 'after 2', 'after 3']) {
      names.push(await pushBackup(source, store.env));
      await write(phase);
    }
    t.diagnostic(`3 backups with writes and WAL switches: ${Date.now() - started} ms`);
    const [, second] = (await listBackups(store.env)) as [unknown, { name: string; startWalFile: string }];
    assert.equal(second.name, names[1]);

    const driver = await openStore(store.config, testTransfer);
    const walFiles = async () => {
      const out: string[] = [];
      for await (const o of listAll(driver, WAL_PREFIX)) out.push(o.key.slice(WAL_PREFIX.length).replace(/\.lz4$/, ''));
      return out;
    };
    try {
      const floor = parseWalFileName(second.startWalFile).segNo!;
      const position = (name: string) => parseWalFileName(name).segNo;
      const below = (names: string[]) => names.filter((n) => (position(n) ?? floor) < floor);
      const before = await walFiles();
      assert.ok(below(before).length >= 3, `WAL before the second backup was archived: ${before.join(' ')}`);

      const r = await runWalship(['delete', 'retain', '2', '--confirm'], store.env);
      assert.equal(r.code, 0, describeCli(r));
      assert.match(r.stdout, new RegExp(`^deleted 1 backup:\\n  ${names[0]}  `, 'm'));
      assert.deepEqual((await listBackups(store.env)).map((b) => b.name), names.slice(1));

      const afterDelete = await walFiles();
      assert.deepEqual(below(afterDelete), [], 'no WAL below the second backup start remains');
      assert.deepEqual(afterDelete.sort(), before.filter((n) => !below([n]).length).sort(), 'everything from its start on remains');
      const segments = afterDelete.filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
      assertContiguous(segments, second.startWalFile, segments.at(-1)!);
      assert.ok(afterDelete.some((n) => n.startsWith(second.startWalFile) && n.endsWith('.backup')), 'the kept backup label file stays');
    } finally {
      await driver.close();
    }

    const where = await restoreRoot();
    dirs.push(where.root);
    const restoreStarted = Date.now();
    const restored = await fetchAndStart(store.env, where, names[1]!);
    clusters.push(restored.cluster);
    t.diagnostic(`restore of ${names[1]} to the end of the archive: ${Date.now() - restoreStarted} ms`);
    assert.equal(restored.backup, names[1]);
    const rows = await restored.cluster.query<{ phase: string; n: string }>('select phase, count(*)::text as n from t group by phase order by phase');
    assert.deepEqual(rows, ['after 1', 'after 2', 'after 3', 'before 1'].map((phase) => ({ phase, n: '1000' })));
  });
});
