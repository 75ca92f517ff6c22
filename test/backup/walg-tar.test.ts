import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PartUnpacker } from '../../agent/backup/part-unpack.ts';
import { walgTablespaces } from '../../agent/backup/walg/fetch.ts';
import { TarBuilder } from '../support/walg-real-backup.ts';

// WAL-G's tar partitions as walship's unpacker restores them (no manifest:
// every entry, directories and links too), and the bad entries and specs it
// refuses, each naming the cause.

describe("WAL-G's tar partitions, unpacked without a manifest", () => {
  let dest: string;
  before(async () => {
    dest = await mkdtemp(join(tmpdir(), 'walship-walg-tar-'));
  });
  after(() => rm(dest, { recursive: true, force: true }));

  // backup-fetch makes the destination before any part is unpacked.
  const unpack = async (tar: TarBuilder, into: string, expected: string[] = []) => {
    await mkdir(into, { recursive: true });
    const u = new PartUnpacker({ dest: into, partKey: 'tar_partitions/part_001.tar', wanted: [], compression: 'none', unlisted: { expected } });
    await u.write(tar.end());
    await u.finish();
    return u.findings();
  };

  test('files, directories (also ones no entry names) and symbolic links are restored', async () => {
    const tar = new TarBuilder();
    tar.dir('', 0o700, 1_700_000_000);
    tar.dir('/base', 0o700, 1_700_000_000);
    tar.file('/base/1/1259', Buffer.from('relation'), 0o600, 1_700_000_000);
    tar.file('/PG_VERSION', Buffer.from('15\n'), 0o600, 1_700_000_000);
    tar.link('/pg_tblspc/16400', '/somewhere/else', 'symlink', 1_700_000_000);
    const into = join(dest, 'ok');
    const findings = await unpack(tar, into, ['base/1/1259', 'PG_VERSION']);
    assert.equal(findings.filesWritten, 2);
    assert.equal(await readFile(join(into, 'base', '1', '1259'), 'utf8'), 'relation');
    assert.equal((await lstat(join(into, 'base', '1', '1259'))).mode & 0o777, 0o600);
    assert.equal((await lstat(join(into, 'PG_VERSION'))).mtimeMs, 1_700_000_000_000);
    assert.equal(await readlink(join(into, 'pg_tblspc', '16400')), '/somewhere/else');
  });

  test('an entry that leaves the data directory is refused, naming it', async () => {
    const tar = new TarBuilder();
    tar.file('/base/../../escaped', Buffer.from('x'), 0o600, 1_700_000_000);
    const into = join(dest, 'escape');
    await assert.rejects(unpack(tar, into), { code: 'BACKUP_CORRUPT', message: /entry "\/base\/\.\.\/\.\.\/escaped" is not a path inside the data directory/ });
    assert.equal((await readdir(dest)).includes('escaped'), false, 'nothing was written where it pointed');
  });

  test('a hard link is refused, naming it', async () => {
    const tar = new TarBuilder();
    tar.link('/base/1/2', '/base/1/1', 'hardlink', 1_700_000_000);
    await assert.rejects(unpack(tar, join(dest, 'hard')), { code: 'BACKUP_CORRUPT', message: /base\/1\/2 is a hard link/ });
  });

  test('a file files_metadata.json puts in the partition but that is not there fails, naming it', async () => {
    const tar = new TarBuilder();
    tar.file('/PG_VERSION', Buffer.from('15\n'), 0o600, 1_700_000_000);
    await assert.rejects(unpack(tar, join(dest, 'lacks'), ['PG_VERSION', 'global/1262']), { code: 'BACKUP_CORRUPT', message: /part_001\.tar lacks 1 file\(s\) .* global\/1262/ });
  });

  test("the sentinel's Spec gives the tablespaces; one that is not WAL-G's shape is refused, naming why", () => {
    assert.deepEqual(walgTablespaces(null, 's.json'), []);
    assert.deepEqual(walgTablespaces({ base_prefix: '/pg/pg_tblspc', tablespaces: ['16400'], 16400: { loc: '/ts/a', link: 'pg_tblspc/16400' } }, 's.json'), [{ oid: '16400', location: '/ts/a', link: 'pg_tblspc/16400' }]);
    assert.throws(() => walgTablespaces([], 's.json'), { code: 'BACKUP_CORRUPT', message: /s\.json: Spec .* is not an object/ });
    assert.throws(() => walgTablespaces({ tablespaces: ['16400'] }, 's.json'), { code: 'BACKUP_CORRUPT', message: /lacks loc and link for tablespace 16400/ });
    assert.throws(() => walgTablespaces({ tablespaces: ['1'], 1: { loc: '/x', link: '../etc' } }, 's.json'), { code: 'BACKUP_CORRUPT', message: /links tablespace 1 at "\.\.\/etc", not pg_tblspc\/<oid>/ });
  });
});
