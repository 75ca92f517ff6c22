import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';
import { WALSHIP_BIN } from '../support/cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { archivedSegments, assertContiguous, switchWal, waitArchived } from '../support/wal-helpers.ts';

// The in-process wal-push and wal-fetch, called by a real PostgreSQL 15 as
// archive_command and restore_command.

describe('standalone wal-push and wal-fetch with PostgreSQL 15', () => {
  let storeRoot: string;
  let source: PgCluster;
  const clusters: PgCluster[] = [];
  const walship = (cmd: string) => `'${process.execPath}' '${WALSHIP_BIN}' ${cmd}`;

  before(async () => {
    storeRoot = await postgresOwnedDir('walship-store-');
    source = await PgCluster.create({
      conf: { archive_mode: 'on', archive_command: walship('wal-push %p'), archive_timeout: 0 },
      env: { WALG_FILE_PREFIX: storeRoot },
    });
    clusters.push(source);
    await source.start();
  });

  after(async () => {
    for (const c of clusters) await c.destroy();
    await rm(storeRoot, { recursive: true, force: true });
  });

  test('archives every segment, contiguously, then recovers to a point in time', { timeout: 300_000 }, async () => {
    await source.query('create table t (id int primary key, at timestamptz default clock_timestamp(), note text)');
    const first = await switchWal(source);
    const backup = await source.baseBackup('none');
    await chownToPostgres(backup.root);

    await source.query("insert into t select g, clock_timestamp(), 'before' from generate_series(1, 1000) g");
    await switchWal(source);
    await new Promise((r) => setTimeout(r, 50));
    const [{ target }] = (await source.query<{ target: string }>("select to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US TZ') as target")) as [{ target: string }];
    await new Promise((r) => setTimeout(r, 50));
    await source.query("insert into t select g, clock_timestamp(), 'after' from generate_series(1001, 2000) g");
    const last = await switchWal(source);
    await waitArchived(source, last);

    const store = await openStore({ kind: 'fs', root: storeRoot }, testTransfer);
    assertContiguous(await archivedSegments(store), first, last);

    const restored = await PgCluster.adopt(backup.root, backup.dataDir, {
      conf: { restore_command: walship('wal-fetch %f %p'), recovery_target_time: target, recovery_target_action: 'promote', archive_mode: 'off' },
      env: { WALG_FILE_PREFIX: storeRoot },
    });
    clusters.push(restored);
    await writeFile(join(backup.dataDir, 'recovery.signal'), '');
    await chownToPostgres(join(backup.dataDir, 'recovery.signal'));
    await restored.start();
    await restored.waitPromoted();
    const rows = await restored.query<{ n: string; notes: string }>("select count(*) as n, string_agg(distinct note, ',') as notes from t");
    assert.equal(rows[0]?.n, '1000');
    assert.equal(rows[0]?.notes, 'before');
  });
});
