import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { catalogue } from '../../agent/errors.ts';
import { WALSHIP_BIN } from '../support/cli.ts';

// bin/walship picks the Node it was built for whatever PATH says: here PATH
// has the system Node 20 first (/usr/bin/node), as PostgreSQL's
// archive_command or a fresh shell would.

const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';

function run(file: string, args: readonly string[], env: Record<string, string>, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, ...(cwd !== undefined ? { cwd } : {}) }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('bin/walship finds its Node', () => {
  let dir: string;
  let pkg: { version: string; engines: { node: string } };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-launcher-'));
    pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as typeof pkg;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the system Node 20 is first on PATH: --version still runs on the project Node', async () => {
    const r = await run(WALSHIP_BIN, ['--version'], { PATH: SYSTEM_PATH });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  test('started through a relative symlink elsewhere, as npm install -g and npx link it', async () => {
    const binDir = join(dir, 'global-bin');
    await mkdir(binDir);
    await symlink(relative(binDir, WALSHIP_BIN), join(binDir, 'walship'));
    await symlink(WALSHIP_BIN, join(binDir, 'walship-abs'));
    for (const name of ['walship', 'walship-abs']) {
      const r = await run(join(binDir, name), ['--version'], { PATH: `${binDir}:${SYSTEM_PATH}` });
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), pkg.version);
    }
    // `sh walship` in the link's own directory: $0 has no slash at all.
    const bare = await run('/bin/sh', ['walship', '--version'], { PATH: SYSTEM_PATH }, binDir);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(bare.stdout.trim(), pkg.version);
  });

  test('hoisted beside walship in a parent node_modules (npx, a dependency of another project)', async () => {
    // A stand-in node that says how it was started: which Node is picked is
    // the point here, and the real runs above and below show it starts walship.
    const root = join(dir, 'project');
    await mkdir(join(root, 'node_modules', 'walship', 'bin'), { recursive: true });
    await mkdir(join(root, 'node_modules', 'node', 'bin'), { recursive: true });
    await mkdir(join(root, 'node_modules', '.bin'), { recursive: true });
    await copyFile(WALSHIP_BIN, join(root, 'node_modules', 'walship', 'bin', 'walship'));
    const fakeNode = join(root, 'node_modules', 'node', 'bin', 'node');
    await writeFile(fakeNode, '#!/bin/sh\necho "hoisted node: $*"\n');
    await chmod(fakeNode, 0o755);
    await symlink('../walship/bin/walship', join(root, 'node_modules', '.bin', 'walship'));
    const r = await run(join(root, 'node_modules', '.bin', 'walship'), ['wal-push', 'x'], { PATH: SYSTEM_PATH });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `hoisted node: --no-concurrent-recompilation --no-concurrent-sparkplug ${root}/node_modules/.bin/../walship/bin/walship wal-push x\n`);
  });

  test('no project Node and a system Node too old: one line naming both versions, exit 78', async () => {
    const lone = join(dir, 'lone', 'bin');
    await mkdir(lone, { recursive: true });
    await copyFile(WALSHIP_BIN, join(lone, 'walship'));
    const r = await run(join(lone, 'walship'), ['--version'], { PATH: SYSTEM_PATH });
    assert.equal(r.code, 78);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^walship: NODE_UNSUITABLE: Node\.js 20\.\d+\.\d+ \(\/usr\/bin\/node\) is too old; walship needs Node\.js 24 \(or >= 22\.15\): run `npm install` in the walship directory .*https:\/\/nodejs\.org\n$/);
  });

  test('no Node at all: one line, exit 78', async () => {
    const lone = join(dir, 'lone', 'bin', 'walship');
    const r = await run('/bin/sh', [lone, '--version'], { PATH: join(dir, 'empty') });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /^walship: NODE_UNSUITABLE: no Node\.js found; walship needs Node\.js 24 \(or >= 22\.15\): run `npm install` .*\n$/);
  });

  test('the minimum the JavaScript part checks is package.json "engines"', async () => {
    const text = await readFile(WALSHIP_BIN, 'utf8');
    const needs = /const NEEDS = \[(\d+), (\d+)\];/.exec(text);
    assert.ok(needs, 'bin/walship declares NEEDS');
    assert.equal(pkg.engines.node, `>=${needs[1]}.${needs[2]}`);
    assert.equal(catalogue.NODE_UNSUITABLE.exit, 78, 'the code bin/walship prints is in the catalogue, with the exit it uses');
    // The sh part must not close the JavaScript comment it sits in early.
    const shPart = text.slice(0, text.indexOf('\n*/\n'));
    assert.ok(!shPart.slice(text.indexOf("':' /*") + 6).includes('*/'));
  });
});
