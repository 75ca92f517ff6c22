import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { BackupFile } from '../../agent/backup/manifest.ts';
import { PartWorkers } from '../../agent/backup/part-workers.ts';
import { scanDataDirectory, type ScannedFile } from '../../agent/backup/scan.ts';
import { createCodec } from '../../agent/codec/index.ts';
import { isWalshipError } from '../../agent/errors.ts';
import { decompressFrameSync } from 'lz4-napi';
import { runTool } from '../support/codec-cli.ts';
import { walLikeBuffer } from '../support/codec-data.ts';
import { readAll } from '../support/streams.ts';

// Parts packed and unpacked on worker threads, as backup-push and
// backup-fetch use them, without PostgreSQL: a directory of files in, the
// same files out, and damage detected.

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('part workers', () => {
  let root: string;
  let src: string;
  let files: ScannedFile[];
  const contents = new Map<string, Buffer>();
  const workers = new PartWorkers(2);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'walship-part-workers-'));
    src = join(root, 'src');
    await mkdir(join(src, 'base', '1'), { recursive: true });
    contents.set('PG_VERSION', Buffer.from('15\n'));
    contents.set('base/1/16384', await walLikeBuffer(3 * 1024 * 1024 + 8192));
    contents.set('base/1/zeros', Buffer.alloc(2 * 1024 * 1024));
    contents.set('base/1/empty', Buffer.alloc(0));
    contents.set(`base/1/${'n'.repeat(150)}`, Buffer.from('a long name'));
    for (const [path, data] of contents) await writeFile(join(src, path), data, { mode: 0o640 });
    files = (await scanDataDirectory(src)).files;
  });
  after(async () => {
    await workers.close();
    await rm(root, { recursive: true, force: true });
  });

  async function pack(compression: 'lz4' | 'none', list = files): Promise<{ stored: Buffer; records: BackupFile[]; dataBytes: number }> {
    let dataBytes = 0;
    return workers.use(async (w) => {
      const job = w.pack({ files: list, part: 1, compression }, (n) => (dataBytes += n));
      const stored = await readAll(job.stream);
      return { stored, records: (await job.result).files, dataBytes };
    });
  }

  async function unpack(stored: Buffer, records: BackupFile[], compression: 'lz4' | 'none', dest: string, chunkSize = 100_000): Promise<number> {
    await mkdir(join(dest, 'base', '1'), { recursive: true });
    let written = 0;
    const chunks: Buffer[] = [];
    for (let i = 0; i < stored.length; i += chunkSize) chunks.push(stored.subarray(i, i + chunkSize));
    await workers.use((w) => w.unpack({ dest, partKey: 'part_001', wanted: records, compression }, Readable.from(chunks), (n) => (written += n)));
    return written;
  }

  for (const compression of ['lz4', 'none'] as const) {
    test(`${compression}: every file comes back byte for byte, with its mode, and the records hold the right checksums`, async () => {
      const { stored, records, dataBytes } = await pack(compression);
      const total = [...contents.values()].reduce((s, b) => s + b.length, 0);
      assert.equal(dataBytes, total);
      assert.deepEqual(records.map((r) => r.path).sort(), [...contents.keys()].sort());
      for (const r of records) assert.equal(r.sha256, sha(contents.get(r.path)!), r.path);
      if (compression === 'lz4') {
        assert.ok(stored.length < total / 2);
        // The stored object is what the codec reads: one LZ4 frame around a tar.
        const codec = await createCodec({ compression: 'lz4' });
        const tar = await readAll(codec.decode(Readable.from([stored]), { compression: 'lz4', encrypted: false }));
        assert.equal(tar.subarray(257, 262).toString(), 'ustar');
        // A reader that stops at the first frame's end (WAL-G <= 3.0.8's) gets the whole part.
        assert.ok(decompressFrameSync(stored).equals(tar));
        const file = join(root, 'part.tar.lz4');
        await writeFile(file, stored);
        await runTool('lz4', ['-q', '-d', '-f', file, join(root, 'part.tar')]);
        assert.ok((await readFile(join(root, 'part.tar'))).equals(tar), 'the lz4 CLI reads it too');
      }
      const dest = join(root, `out-${compression}`);
      assert.equal(await unpack(stored, records, compression, dest), total);
      for (const [path, data] of contents) {
        assert.ok((await readFile(join(dest, path))).equals(data), path);
        assert.equal((await stat(join(dest, path))).mode & 0o777, 0o640);
      }
      assert.deepEqual((await readdir(join(dest, 'base', '1'))).filter((n) => n.includes('walship-restore')), [], 'no temporary file is left');
      // The source's chunks are the caller's: large ones too are sent on as copies.
      const before = Buffer.from(stored);
      await unpack(stored, records, compression, join(root, `out-${compression}-whole`), stored.length);
      assert.ok(stored.equals(before));
    });
  }

  test('a file that does not match its checksum fails the part as BACKUP_CORRUPT, and is not left under its name', async () => {
    const { stored, records } = await pack('lz4');
    const wrong = records.map((r) => (r.path === 'base/1/16384' ? { ...r, sha256: '0'.repeat(64) } : r));
    const dest = join(root, 'out-wrong');
    await assert.rejects(unpack(stored, wrong, 'lz4', dest), (e) => isWalshipError(e, 'BACKUP_CORRUPT') && /base\/1\/16384 does not match/.test(e.message));
    await assert.rejects(stat(join(dest, 'base/1/16384')));
    assert.deepEqual((await readdir(join(dest, 'base', '1'))).filter((n) => n.includes('walship-restore')), []);
  });

  test('damaged LZ4 data and a part that lacks a file are reported', async () => {
    const { stored, records } = await pack('lz4');
    const damaged = Buffer.from(stored);
    const middle = Math.floor(damaged.length / 2);
    damaged[middle] = damaged[middle]! ^ 0xff;
    await assert.rejects(unpack(damaged, records, 'lz4', join(root, 'out-damaged')), (e) => isWalshipError(e) && ['CODEC_CORRUPT', 'BACKUP_CORRUPT'].includes(e.code));
    const extra = [...records, { ...records[0]!, path: 'base/1/not-there' }];
    await assert.rejects(unpack(stored, extra, 'lz4', join(root, 'out-lacking')), (e) => isWalshipError(e, 'BACKUP_CORRUPT') && /lacks 1 file/.test(e.message));
  });

  test('a vanished file is left out; a cancelled pack stops and the worker takes the next job', async () => {
    const ghost: ScannedFile = { ...files[0]!, path: 'base/1/ghost', absPath: join(src, 'base/1/ghost') };
    const { records } = await pack('lz4', [...files, ghost]);
    assert.ok(!records.some((r) => r.path === 'base/1/ghost'));
    await workers.use(async (w) => {
      const job = w.pack({ files, part: 1, compression: 'none' }, () => undefined);
      job.stream.destroy();
      await assert.rejects(job.result);
    });
    assert.equal((await pack('lz4')).records.length, contents.size);
  });

  test('a failing source fails the unpack with its own error', async () => {
    const { stored, records } = await pack('lz4');
    const source = Readable.from(
      (async function* () {
        yield stored.subarray(0, 1000);
        throw new Error('connection reset');
      })(),
    );
    await mkdir(join(root, 'out-reset', 'base', '1'), { recursive: true });
    await assert.rejects(
      workers.use((w) => w.unpack({ dest: join(root, 'out-reset'), partKey: 'p', wanted: records, compression: 'lz4' }, source, () => undefined)),
      /connection reset/,
    );
  });

  test('jobs go to the thread with the least work, and wait beyond the job limit', async () => {
    const pool = new PartWorkers(4, 2);
    try {
      let releaseHeavy!: () => void;
      const heavyHeld = new Promise<void>((resolve) => (releaseHeavy = resolve));
      const got: { name: string; worker: unknown }[] = [];
      const heavy = pool.use(async (w) => {
        got.push({ name: 'heavy', worker: w });
        await heavyHeld;
      }, 1_000_000_000);
      let releaseLight!: () => void;
      const lightHeld = new Promise<void>((resolve) => (releaseLight = resolve));
      const lights = [1, 2, 3].map((n) =>
        pool.use(async (w) => {
          got.push({ name: `light${n}`, worker: w });
          await lightHeld;
        }, 90_000_000),
      );
      let fifthStarted = false;
      const fifth = pool.use(async () => {
        fifthStarted = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(got.length, 4);
      const heavyWorker = got.find((g) => g.name === 'heavy')!.worker;
      assert.ok(got.filter((g) => g.name !== 'heavy').every((g) => g.worker !== heavyWorker), 'small jobs share the other thread');
      assert.equal(fifthStarted, false, 'a fifth job waits for one of the four');
      releaseLight();
      await Promise.all(lights);
      await fifth;
      assert.equal(fifthStarted, true);
      releaseHeavy();
      await heavy;
    } finally {
      await pool.close();
    }
  });

  test('sha256 of a file, on a worker', async () => {
    const { sha256, size } = await workers.use((w) => w.sha256(join(src, 'base/1/16384')));
    assert.equal(sha256, sha(contents.get('base/1/16384')!));
    assert.equal(size, contents.get('base/1/16384')!.length);
    await assert.rejects(workers.use((w) => w.sha256(join(src, 'nope'))), (e) => (e as { code?: string }).code === 'ENOENT');
  });
});
