import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { readSentinel, writeSentinel } from '../../agent/backup/catalog.ts';
import { sentinelKey, walgMetadataKey } from '../../agent/backup/layout.ts';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { openStore } from '../../agent/storage/open.ts';
import { recordIdentity } from '../../agent/wal/cluster-identity.ts';
import { sentinel } from '../retention/fixtures.ts';
import { testTransfer } from '../storage/contract.ts';
import { runWalship, type CliResult } from '../support/cli.ts';
import { writeWalgBackup } from '../support/walg-backup.ts';
import { WALG_METADATA, WALG_SENTINEL, goDecodeProblems } from '../support/walg-schema.ts';

// What WAL-G reads of walship's backups, and what scripts written for
// WAL-G read of `walship backup-list --json`: walship's sentinel and
// metadata.json decoded as Go decodes them into WAL-G's structs, and the
// listing against golden files holding WAL-G's field names and formats.

const GOLDEN = new URL('./fixtures/', import.meta.url);
const describeCli = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

describe("walship's backups in WAL-G's formats", () => {
  let root: string;
  let store: StorageDriver;
  const b = { ...sentinel({ pos: 10, start: 0 }), startLsn: '0/A000028', stopLsn: '0/A000138', userData: { team: 'db' } };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'walship-walg-format-'));
    store = await openStore({ kind: 'fs', root }, testTransfer);
    await recordIdentity(store, { systemIdentifier: b.systemIdentifier, pgVersion: 150000, segmentSize: 16 * 1024 * 1024 }, b.startWalFile);
    await writeSentinel(store, b);
    await writeWalgBackup(store, { pos: 20, startTime: new Date('2025-03-02T00:00:00.5Z'), finishTime: new Date('2025-03-02T00:10:00Z') });
  });
  after(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  test("the sentinel and metadata.json decode whole into WAL-G's structs, every required field with WAL-G's type", async () => {
    const sentinelText = await readFile(join(root, sentinelKey(b.name)), 'utf8');
    const metadataText = await readFile(join(root, walgMetadataKey(b.name)), 'utf8');
    assert.deepEqual(goDecodeProblems(sentinelText, WALG_SENTINEL), []);
    assert.deepEqual(goDecodeProblems(metadataText, WALG_METADATA), []);
    // 64-bit numbers are written digit for digit: the system identifier is above 2^53.
    assert.match(sentinelText, /"SystemIdentifier": 7000000000000000001,/);
    assert.match(sentinelText, /"LSN": 167772200,/);
    assert.match(sentinelText, /"FinishLSN": 167772472,/);
    assert.match(metadataText, /"system_identifier": 7000000000000000001,/);
    assert.match(metadataText, /"start_time": "2025-03-01T00:00:00Z",/);
    // And walship reads its own sentinel back as it was.
    assert.deepEqual(await readSentinel(store, b.name), b);
  });

  test("the check catches what broke WAL-G: walship's former sentinel, whose string systemIdentifier Go folds onto SystemIdentifier", async () => {
    const former = JSON.stringify({ ...b });
    assert.deepEqual(goDecodeProblems(former, WALG_SENTINEL).filter((p) => p.startsWith('systemIdentifier')), [
      'systemIdentifier (Go field SystemIdentifier) is "7000000000000000001", not a JSON integer (uint64)',
    ]);
    // A sentinel written so by an earlier walship still reads.
    const old = { ...b, name: 'base_000000010000000000000063', startWalFile: '000000010000000000000063' };
    await store.put(sentinelKey(old.name), () => Readable.from([Buffer.from(JSON.stringify(old))]));
    assert.deepEqual(await readSentinel(store, old.name), old);
    await store.deleteMany([sentinelKey(old.name)]);
  });

  test("the WAL-G fixture's own sentinel and metadata pass the same check", async () => {
    const g = { name: 'base_000000010000000000000014' };
    assert.deepEqual(goDecodeProblems(await readFile(join(root, sentinelKey(g.name)), 'utf8'), WALG_SENTINEL), []);
    assert.deepEqual(goDecodeProblems(await readFile(join(root, walgMetadataKey(g.name)), 'utf8'), WALG_METADATA), []);
  });

  test("backup-list --json and --json --detail match the golden files: WAL-G's fields first, walship's beside them", async () => {
    const env = { WALG_FILE_PREFIX: root };
    for (const [args, file] of [[['--json'], 'backup-list.json'], [['--json', '--detail'], 'backup-list-detail.json']] as const) {
      const r = await runWalship(['backup-list', ...args], env);
      assert.equal(r.code, 0, describeCli(r));
      assert.equal(r.stdout, await readFile(new URL(file, GOLDEN), 'utf8'), `backup-list ${args.join(' ')}`);
    }
  });
});
