import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openStore } from '../../agent/storage/open.ts';
import { testTransfer } from '../storage/contract.ts';
import { fencedBlocks, section } from '../support/markdown.ts';
import { PgCluster, postgresOwnedDir } from '../support/pg-cluster.ts';
import { archivedSegments, assertContiguous, switchWal, waitArchived } from '../support/wal-helpers.ts';

// The README's set-up commands, taken from the README itself and run as a
// newcomer runs them: in a fresh clone of this commit, from a shell whose
// `node` is the system's Node 20 and with no node_modules/.bin on PATH.

const run = promisify(execFile);
const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';
const REPO = new URL('../..', import.meta.url).pathname;

/** What npm needs to reach the registry from here (certificates, proxies), and nothing of this process's npm run. */
function registryEnv(): Record<string, string> {
  const keep = /^(HOME|USER|LANG|TMPDIR|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)$/;
  return Object.fromEntries(Object.entries(process.env).filter(([k, v]) => keep.test(k) && v !== undefined)) as Record<string, string>;
}

function shell(command: string, cwd: string, timeoutMs: number, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd, env: { ...registryEnv(), PATH: SYSTEM_PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe("the README's commands, as written, on the system Node 20", () => {
  let clone: string;
  let commands: { demo: string; tests: string };

  before(async () => {
    const head = (await run('git', ['-C', REPO, 'rev-parse', 'HEAD'])).stdout.trim();
    clone = await mkdtemp(join(tmpdir(), 'walship-readme-'));
    // PostgreSQL (as postgres) runs the clone's bin/walship in the last test.
    await chmod(clone, 0o755);
    await run('git', ['clone', '--quiet', '--no-checkout', REPO, clone]);
    await run('git', ['-C', clone, 'checkout', '--quiet', head]);
    const blocks = fencedBlocks(section(await readFile(join(clone, 'README.md'), 'utf8'), 'Set up on a fresh machine')).map((b) => b.body.trim());
    const demo = blocks.find((b) => b.includes('walship demo'));
    const tests = blocks.find((b) => b.includes('npm test'));
    assert.ok(demo && tests, `the README's set-up section has the demo and the tests commands: ${JSON.stringify(blocks)}`);
    commands = { demo, tests };
  });
  after(() => rm(clone, { recursive: true, force: true }));

  test('the shell finds the system Node 20 first, and no node_modules/.bin', async () => {
    const r = await shell('command -v node && node --version && command -v tsc || echo "no tsc"', clone, 10_000);
    assert.match(r.out, /^\/usr\/bin\/node\nv20\.\d+\.\d+\nno tsc\n$/);
  });

  test('the demo command runs and ends with DATA MATCHED', { timeout: 1_800_000 }, async () => {
    // About 50 s on an idle machine; 13 minutes were seen with a load average of 17.
    const r = await shell(commands.demo, clone, 1_780_000);
    assert.equal(r.code, 0, r.out.slice(-4000));
    // The line agent/demo/run.ts prints when the restored data is the target's, exactly.
    assert.match(r.out, /^DATA MATCHED: restored to .+, the second cluster holds every change made before that moment and none made after it\.$/m);
  });

  test("npm ci, run by the system Node 20, leaves an installation that reads every compression: @napi-rs/lzma's binding is there", async () => {
    // npm skips optional bindings whose engines exclude the Node running npm;
    // bin/complete-install.js puts it back (needs the demo test's npm ci).
    const r = await shell(`node_modules/node/bin/node -e "const { lzma } = require('@napi-rs/lzma'); process.stdout.write(lzma.decompressSync(lzma.compressSync('walship')).toString())"`, clone, 30_000);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out, 'walship');
  });

  test('the tests command parses, and what it starts exists', async () => {
    // Running the whole test suite from inside the test suite is not wanted
    // (it would run this file too, and take the machine for an hour): the
    // command is checked to parse, and each of its parts to exist.
    await run('/bin/sh', ['-n', '-c', commands.tests]);
    const parts = commands.tests.split('&&').map((p) => p.trim());
    assert.deepEqual(parts, ['bash .ci/install-deps', 'npm test', 'npm run test:slow']);
    await access(join(clone, '.ci', 'install-deps'));
    await run('bash', ['-n', join(clone, '.ci', 'install-deps')]);
    const pkg = JSON.parse(await readFile(join(clone, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.ok(pkg.scripts.test, 'npm test has a script');
    assert.ok(pkg.scripts['test:slow'], 'npm run test:slow has a script');
  });

  test('installed with npm install -g, and run with npx, from the packed clone: Node 24 whatever PATH says', { timeout: 600_000 }, async () => {
    // After the demo command the clone is built, so `npm pack` has dist/.
    // A private prefix and npm cache keep the machine's own untouched.
    const work = join(clone, '.install-check');
    const env = { npm_config_cache: join(work, 'cache'), npm_config_update_notifier: 'false' };
    const pack = await shell(`mkdir -p '${work}' && npm pack --silent --pack-destination '${work}'`, clone, 120_000, env);
    assert.equal(pack.code, 0, pack.out);
    const tarball = join(work, pack.out.trim().split('\n').pop()!);
    const global = await shell(`npm install -g --prefix '${join(work, 'global')}' --no-audit --no-fund '${tarball}'`, work, 300_000, env);
    assert.equal(global.code, 0, global.out.slice(-3000));
    // bin/walship is reached through npm's symlink in <prefix>/bin, with the system Node 20 first on PATH.
    const viaGlobal = await shell('walship --version', work, 30_000, { PATH: `${join(work, 'global', 'bin')}:${SYSTEM_PATH}` });
    const { version } = JSON.parse(await readFile(join(clone, 'package.json'), 'utf8')) as { version: string };
    assert.equal(viaGlobal.out, `${version}\n`);
    assert.equal(viaGlobal.code, 0);
    const viaNpx = await shell(`npx --yes --package '${tarball}' -- walship --version`, work, 300_000, env);
    assert.equal(viaNpx.code, 0, viaNpx.out.slice(-3000));
    assert.ok(viaNpx.out.split('\n').includes(version), viaNpx.out);
    assert.doesNotMatch(viaNpx.out, /NODE_UNSUITABLE/);
  });

  test("archive_command = 'walship wal-push %p', run by PostgreSQL with a plain system PATH, archives", { timeout: 300_000 }, async () => {
    // After the demo command, the clone is installed and built, as a newcomer's is.
    const storeRoot = await postgresOwnedDir('walship-readme-store-');
    const walship = join(clone, 'bin', 'walship');
    const cluster = await PgCluster.create({
      conf: { archive_mode: 'on', archive_command: `'${walship}' wal-push %p`, archive_timeout: 0 },
      env: { PATH: SYSTEM_PATH, WALG_FILE_PREFIX: storeRoot },
    });
    try {
      await cluster.start();
      await cluster.query('create table t (id int primary key)');
      const first = await switchWal(cluster);
      await cluster.query('insert into t select generate_series(1, 1000)');
      const last = await switchWal(cluster);
      await waitArchived(cluster, last);
      const [stats] = await cluster.query<{ failed_count: string }>('select failed_count from pg_stat_archiver');
      assert.equal(stats!.failed_count, '0', (await cluster.log()).slice(-3000));
      const store = await openStore({ kind: 'fs', root: storeRoot }, testTransfer);
      assertContiguous(await archivedSegments(store), first, last);
    } finally {
      await cluster.destroy();
      await rm(storeRoot, { recursive: true, force: true });
    }
  });
});
