import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { TAR_END_LENGTH, encodeFileHeader, tarPadding, type TarHeader } from '../../agent/backup/tar-format.ts';
import { TarReader } from '../../agent/backup/tar-reader.ts';
import { isWalshipError } from '../../agent/errors.ts';

const run = promisify(execFile);

interface Entry {
  path: string;
  data: Buffer;
  mode?: number;
}

function archive(entries: readonly Entry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    out.push(encodeFileHeader({ path: e.path, size: e.data.length, mode: e.mode ?? 0o600, mtime: 1_700_000_000.5 }), e.data, Buffer.alloc(tarPadding(e.data.length)));
  }
  out.push(Buffer.alloc(TAR_END_LENGTH));
  return Buffer.concat(out);
}

/** Reads `tar` fed in chunks of `chunkSize`; returns every file with its data. */
function readTar(tar: Buffer, chunkSize: number, wanted = (_h: TarHeader) => true): { header: TarHeader; data: Buffer }[] {
  const files: { header: TarHeader; data: Buffer }[] = [];
  let parts: Buffer[] = [];
  const reader = new TarReader({
    onFile: (h) => {
      parts = [];
      return wanted(h);
    },
    onData: (chunk) => parts.push(Buffer.from(chunk)),
    onFileEnd: (header) => files.push({ header, data: Buffer.concat(parts) }),
  });
  for (let i = 0; i < tar.length; i += chunkSize) reader.write(tar.subarray(i, i + chunkSize));
  reader.end();
  return files;
}

const longDir = `pg_tblspc/16400/PG_15_202209061/${'d'.repeat(80)}`;
const ENTRIES: Entry[] = [
  { path: 'PG_VERSION', data: Buffer.from('15\n'), mode: 0o600 },
  { path: 'base/1/1259', data: Buffer.alloc(3 * 8192, 7), mode: 0o640 },
  { path: 'empty', data: Buffer.alloc(0) },
  { path: `${longDir}/16401`, data: Buffer.from('split into prefix and name') },
  { path: `${'x'.repeat(120)}/${'y'.repeat(120)}`, data: Buffer.from('needs a pax path') },
  { path: 'odd', data: Buffer.alloc(1000, 1) },
];

describe('tar format', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-tar-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('what it writes reads back whatever the chunking, with paths, modes and sizes', () => {
    const tar = archive(ENTRIES);
    for (const chunkSize of [1, 7, 512, 513, 4096, tar.length]) {
      const files = readTar(tar, chunkSize);
      assert.deepEqual(
        files.map((f) => [f.header.name, f.header.mode, f.header.size, f.header.mtime, f.data.toString('hex')]),
        ENTRIES.map((e) => [e.path, e.mode ?? 0o600, e.data.length, 1_700_000_000, e.data.toString('hex')]),
        `chunks of ${chunkSize}`,
      );
    }
  });

  test('skipped files are passed over', () => {
    const files = readTar(archive(ENTRIES), 100, (h) => h.name === 'odd');
    assert.deepEqual(files.map((f) => f.header.name), ['odd']);
    assert.equal(files[0]!.data.length, 1000);
  });

  test('GNU tar lists and extracts what it writes', async () => {
    const file = join(dir, 'ours.tar');
    await writeFile(file, archive(ENTRIES));
    const { stdout } = await run('tar', ['-tf', file]);
    assert.deepEqual(stdout.trim().split('\n'), ENTRIES.map((e) => e.path));
    const out = join(dir, 'extracted');
    await mkdir(out);
    await run('tar', ['-xf', file, '-C', out]);
    for (const e of ENTRIES) assert.deepEqual(await readFile(join(out, e.path)), e.data);
  });

  test('reads what GNU tar writes, long names included, and skips directories', async () => {
    const src = join(dir, 'src');
    const deep = join(src, 'a'.repeat(90), 'b'.repeat(90));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, 'c'.repeat(90)), 'deep file');
    await writeFile(join(src, 'plain'), 'plain file');
    for (const format of ['gnu', 'posix']) {
      const file = join(dir, `gnu-${format}.tar`);
      await run('tar', ['-cf', file, `--format=${format}`, '-C', src, '.']);
      const files = readTar(await readFile(file), 1000);
      const byName = new Map(files.map((f) => [f.header.name.replace(/^\.\//, ''), f.data.toString()]));
      assert.equal(byName.get('plain'), 'plain file', format);
      assert.equal(byName.get(`${'a'.repeat(90)}/${'b'.repeat(90)}/${'c'.repeat(90)}`), 'deep file', format);
      assert.equal(files.length, 2, format);
    }
  });

  test('a damaged header or a stream cut inside a file is BACKUP_CORRUPT', () => {
    const tar = archive(ENTRIES);
    const damaged = Buffer.from(tar);
    damaged[1] = damaged[1]! ^ 0xff;
    assert.throws(() => readTar(damaged, 4096), (e) => isWalshipError(e, 'BACKUP_CORRUPT') && /header checksum/.test(e.message));
    assert.throws(() => readTar(tar.subarray(0, 700), 4096), (e) => isWalshipError(e, 'BACKUP_CORRUPT') && /unexpected end/.test(e.message));
  });

  test('a stream that ends at a header boundary without end blocks is accepted', () => {
    const tar = archive(ENTRIES.slice(0, 2));
    assert.equal(readTar(tar.subarray(0, tar.length - TAR_END_LENGTH), 999).length, 2);
  });
});
