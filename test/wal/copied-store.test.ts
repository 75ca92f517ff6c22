import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compressFrameSync } from 'lz4-napi';
import { startAgentProcess } from '../support/agent-process.ts';
import { WALSHIP_BIN, runWalship } from '../support/cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir } from '../support/pg-cluster.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';

// Issue 11, part 2: a filesystem store moved to new disks (cp -a, rsync -a,
// tar) keeps every checksum, so a byte flipped in the copy stops recovery
// instead of promoting the cluster at the damaged record; and a WAL object
// with no checksum at all (as WAL-G writes them) still has its size and
// every page header checked.

const walship = (cmd: string) => `'${process.execPath}' '${WALSHIP_BIN}' ${cmd}`;
const COMPRESSIONS = ['none', 'lz4'] as const;
type Compression = (typeof COMPRESSIONS)[number];
const extension = (c: Compression) => (c === 'lz4' ? '.lz4' : '');

/** The ways an operator moves a store; each makes new inodes. `to` does not exist yet; its parent does. */
const COPIES: [string, (from: string, to: string) => void][] = [
  ['cp -a', (from, to) => execFileSync('cp', ['-a', from, to])],
  ['tar', (from, to) => execFileSync('sh', ['-c', 'mkdir "$2" && tar -C "$1" -cf - . | tar -C "$2" -xpf -', 'sh', from, to])],
  ['rsync -a', (from: string, to: string) => execFileSync('rsync', ['-a', `${from}/`, `${to}/`])],
];

interface Row {
  id: number;
  note: string;
}

describe('a copied filesystem store keeps its checksums; checksum-less WAL is checked page by page', () => {
  const dirs: string[] = [];
  const clusters: PgCluster[] = [];
  const stores = {} as Record<Compression, string>;
  let source: PgCluster;
  let backupRoot: string;
  let committed: Row[];
  /** The segment holding the 150 single-row transactions. */
  let rowsSegment: string;

  before(async () => {
    for (const c of COMPRESSIONS) {
      stores[c] = await postgresOwnedDir(`walship-copy-${c}-`);
      dirs.push(stores[c]);
    }
    // One archive_command archives into both stores, each with its compression.
    const push = COMPRESSIONS.map((c) => `WALG_FILE_PREFIX='${stores[c]}' WALG_COMPRESSION_METHOD=${c} ${walship('wal-push %p')}`).join(' && ');
    source = await PgCluster.create({ conf: { archive_mode: 'on', archive_command: push, archive_timeout: 0 } });
    clusters.push(source);
    await source.start();
    await source.query('create table t (id int primary key, note text not null)');
    await switchWal(source);
    const backup = await source.baseBackup('none');
    backupRoot = backup.root;
    dirs.push(backupRoot);

    // Enough WAL that the segment has pages well past its first few, then one transaction per row, as in the issue: recovery that stopped at a damaged record would keep a prefix of them.
    await source.query("insert into t select g, 'filler-' || g from generate_series(1001, 11000) g");
    const client = source.client();
    await client.connect();
    for (let id = 1; id <= 150; id++) await client.query('insert into t values ($1, $2)', [id, `row-${String(id).padStart(4, '0')}`]);
    await client.end();
    rowsSegment = await switchWal(source);
    await source.query("insert into t select g, 'later-' || g from generate_series(151, 200) g");
    const last = await switchWal(source);
    await waitArchived(source, last);
    committed = await source.query<Row>('select id, note from t order by id');
    assert.equal(committed.length, 10_200);
  });

  after(async () => {
    for (const c of clusters) await c.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  /** A fresh copy of the base backup, recovered to the end of the archive in `storeRoot` through the standalone wal-fetch. */
  async function recoverFrom(storeRoot: string, compression: Compression): Promise<PgCluster> {
    const root = await postgresOwnedDir('walship-copy-restore-');
    dirs.push(root);
    execFileSync('cp', ['-a', join(backupRoot, 'data'), join(root, 'data')]);
    const cluster = await PgCluster.adopt(root, join(root, 'data'), {
      conf: { restore_command: `WALG_FILE_PREFIX='${storeRoot}' WALG_COMPRESSION_METHOD=${compression} ${walship('wal-fetch %f %p')}`, archive_mode: 'off' },
    });
    clusters.push(cluster);
    await writeFile(join(root, 'data', 'recovery.signal'), '');
    await chownToPostgres(join(root, 'data', 'recovery.signal'));
    return cluster;
  }

  async function assertRecoversEveryRow(storeRoot: string, compression: Compression, label: string): Promise<string> {
    const cluster = await recoverFrom(storeRoot, compression);
    await cluster.start();
    await cluster.waitPromoted();
    assert.deepEqual(await cluster.query<Row>('select id, note from t order by id'), committed, `${label}: every committed row, row for row`);
    const log = await cluster.log();
    await cluster.destroy();
    return log;
  }

  /** A copy of a store beside the original, owned as the original is. */
  async function copyStore(compression: Compression, copy: (from: string, to: string) => void): Promise<string> {
    const parent = await postgresOwnedDir('walship-copied-');
    dirs.push(parent);
    const to = join(parent, 'store');
    copy(stores[compression], to);
    return to;
  }

  for (const compression of COMPRESSIONS) {
    for (const [how, copy] of COPIES) {
      test(`compression ${compression}, copied with ${how}: a flipped byte fails wal-fetch with 126, an intact copy restores every row`, { timeout: 300_000 }, async () => {
        const intact = await copyStore(compression, copy);
        const log = await assertRecoversEveryRow(intact, compression, `${how} copy`);
        assert.doesNotMatch(log, /carries no checksum/, 'every object of the copy kept its checksum');

        const damaged = await copyStore(compression, copy);
        const object = join(damaged, 'wal_005', `${rowsSegment}${extension(compression)}`);
        const bytes = await readFile(object);
        // Uncompressed, in a row's own record: nothing but the checksum can tell. In lz4 data, the frame's own content checksum tells too.
        const at = compression === 'none' ? bytes.indexOf('row-0100') : Math.floor(bytes.length / 2);
        assert.ok(at > 0, 'found a place to damage');
        bytes[at]! ^= 0x01;
        await writeFile(object, bytes);
        const dest = join(damaged, 'RECOVERYXLOG');
        const r = await runWalship(['wal-fetch', rowsSegment, dest], { WALG_FILE_PREFIX: damaged, WALG_COMPRESSION_METHOD: compression });
        assert.equal(r.code, 126, r.stderr);
        const cause = compression === 'none' ? /STORE_CORRUPT: .*the stored bytes .* are not the ones its metadata describes/ : /STORE_CORRUPT|CODEC_CORRUPT/;
        assert.match(r.stderr, new RegExp(`WAL_FETCH_FAILED: could not restore ${rowsSegment}: .*(${cause.source})`));
        await assert.rejects(stat(dest), 'nothing was written at %p');
      });
    }
  }

  test('recovery from a copy with a flipped byte stops with FATAL instead of promoting at the damaged record', { timeout: 300_000 }, async () => {
    const damaged = await copyStore('none', COPIES[0]![1]);
    const object = join(damaged, 'wal_005', rowsSegment);
    const bytes = await readFile(object);
    bytes[bytes.indexOf('row-0066')]! ^= 0x01;
    await writeFile(object, bytes);
    const cluster = await recoverFrom(damaged, 'none');
    await cluster.startNoWait();
    const deadline = Date.now() + 120_000;
    let log = '';
    while (!/shutting down due to startup process failure|database system is ready to accept connections/.test((log = await cluster.log()))) {
      assert.ok(Date.now() < deadline, `recovery neither stopped nor ended:\n${log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(log, /FATAL: .*could not restore file "[0-9A-F]{24}" from archive/);
    assert.match(log, new RegExp(`STORE_CORRUPT: .*wal_005/${rowsSegment}`));
    assert.match(log, /shutting down due to startup process failure/);
    assert.doesNotMatch(log, /database system is ready to accept connections/);
    await cluster.destroy();
  });

  test('a store whose WAL objects carry no metadata (as WAL-G writes them) restores every row, with a warning per object', { timeout: 300_000 }, async () => {
    for (const compression of COMPRESSIONS) {
      const bare = await copyStore(compression, COPIES[0]![1]);
      const wal = join(bare, 'wal_005');
      for (const f of await readdir(wal)) if (f.endsWith('.walship-meta')) await unlink(join(wal, f));
      const log = await assertRecoversEveryRow(bare, compression, `metadata-less ${compression}`);
      assert.match(log, /"level":"warn".*"msg":"restored a WAL object that carries no checksum: its size and every page header were checked/);
    }
  });

  test('through the agent too: a metadata-less store restores every row, and the agent warns for each object', { timeout: 300_000 }, async () => {
    const bare = await copyStore('lz4', COPIES[0]![1]);
    const wal = join(bare, 'wal_005');
    for (const f of await readdir(wal)) if (f.endsWith('.walship-meta')) await unlink(join(wal, f));
    const shared = await postgresOwnedDir('walship-copy-agent-');
    dirs.push(shared);
    await chmod(shared, 0o755);
    const installed = await runWalship(['install-client', shared]);
    assert.equal(installed.code, 0, installed.stderr);
    await chownToPostgres(join(shared, 'spool'));
    const cluster = await recoverFrom(bare, 'lz4');
    await cluster.setConf({ restore_command: `${join(shared, 'walship-client')} wal-fetch %f %p` });
    const agent = await startAgentProcess({ WALG_FILE_PREFIX: bare, PGDATA: cluster.dataDir, WALSHIP_SPOOL_DIR: join(shared, 'spool'), WALSHIP_UPLOAD_AHEAD: 'false' });
    try {
      await cluster.start();
      await cluster.waitPromoted();
      assert.deepEqual(await cluster.query<Row>('select id, note from t order by id'), committed, 'every committed row, row for row');
    } finally {
      await agent.stop();
      await cluster.destroy();
    }
    const warned = agent.logs().filter((l) => l.level === 'warn' && /carries no checksum/.test(String(l.msg)));
    assert.ok(warned.length >= 2, `a warning per restored object: ${warned.length}`);
    assert.ok(warned.every((l) => typeof l.file === 'string' && String(l.key).startsWith('wal_005/')));
  });

  test('checksum-less WAL: a damaged page header in the middle of the segment fails with 126; an intact one is fetched with a warning', { timeout: 120_000 }, async () => {
    const segment = await readFile(join(stores.none, 'wal_005', rowsSegment));
    const segmentSize = segment.length;
    const zerosFrom = (() => {
      for (let page = segmentSize - 8192; page > 0; page -= 8192) if (!segment.subarray(page, page + 8192).every((b) => b === 0)) return page + 8192;
      return 0;
    })();
    assert.ok(zerosFrom > 8192 * 4, 'the segment has written pages beyond the first few');
    const written = Math.floor(zerosFrom / 2 / 8192) * 8192;
    const cases: [string, (s: Buffer) => void, RegExp][] = [
      ['page address', (s) => void (s[written + 9]! ^= 0x01), new RegExp(`the page at offset ${written} \\(0x${written.toString(16)}\\) says it is at 0x`)],
      ['page magic', (s) => void (s[written]! ^= 0x40), /has page magic 0x[0-9a-f]+, not the segment's 0xd110/],
      ['timeline', (s) => void s.writeUInt32LE(7, written + 4), /is on timeline 7, outside 1\.\.1/],
      ['a long header past the first page', (s) => void (s[written + 2]! |= 0x02), /has a long header, which only the first page of a segment has/],
      ['data after the switch padding', (s) => void (s[zerosFrom + 8192 + 100] = 1), /holds data after the zeros that follow a WAL switch/],
    ];
    assert.ok(zerosFrom + 8192 < segmentSize, 'the switched segment ends in pages of zeros');
    for (const compression of COMPRESSIONS) {
      const root = await postgresOwnedDir('walship-walg-like-');
      dirs.push(root);
      const key = join(root, 'wal_005', `${rowsSegment}${extension(compression)}`);
      execFileSync('mkdir', ['-p', join(root, 'wal_005')]);
      const env = { WALG_FILE_PREFIX: root, WALG_COMPRESSION_METHOD: compression, WALSHIP_LOG_LEVEL: 'info' };
      const put = (s: Buffer) => writeFile(key, compression === 'lz4' ? compressFrameSync(s) : s);
      for (const [label, damage, message] of cases) {
        const s = Buffer.from(segment);
        damage(s);
        await put(s);
        const dest = join(root, 'RECOVERYXLOG');
        const r = await runWalship(['wal-fetch', rowsSegment, dest], env);
        assert.equal(r.code, 126, `${compression}, ${label}: ${r.stderr}`);
        assert.match(r.stderr, /WAL_INTEGRITY: .* is not a valid WAL segment: /, `${compression}, ${label}`);
        assert.match(r.stderr, message, `${compression}, ${label}`);
        await assert.rejects(stat(dest), `${compression}, ${label}: nothing at %p`);
      }
      const truncated = segment.subarray(0, segmentSize - 8192);
      await put(truncated);
      const short = await runWalship(['wal-fetch', rowsSegment, join(root, 'short')], env);
      assert.equal(short.code, 126, short.stderr);
      assert.match(short.stderr, /size 16769024 bytes, but its header says segments are 16777216 bytes/);

      await put(segment);
      const dest = join(root, 'RECOVERYXLOG');
      const r = await runWalship(['wal-fetch', rowsSegment, dest], env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readFile(dest), segment);
      const warning = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.level === 'warn');
      assert.ok(warning, `a warning was logged: ${r.stderr}`);
      assert.equal(warning.file, rowsSegment);
      assert.equal(warning.key, `wal_005/${rowsSegment}${extension(compression)}`);
      assert.match(String(warning.msg), /carries no checksum/);
    }
  });
});
