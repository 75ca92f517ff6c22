// Builds the container image (docker/build.sh, with a debootstrapped base from
// docker/build-base.sh) and smoke-tests it with `buildah run --isolation chroot`:
// there is no Docker engine, `podman run` does not work on the CI machines, and
// no registry can be reached. Needs root, debootstrap, podman and buildah
// (.ci/install-deps installs them) and Debian's package mirror. It fails, never
// skips, when something is missing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

const root = fileURLToPath(new URL('../../', import.meta.url));
const driver = process.env.WALSHIP_STORAGE_DRIVER ?? 'vfs';
const image = 'localhost/walship:image-test';
const BUILD_TIMEOUT_MS = 20 * 60_000;
const MAX_IMAGE_BYTES = 350e6;
// The restore-drill variant adds PostgreSQL 15's server, its JIT (libllvm14), ICU and Perl: 616 MB measured.
const drillImage = 'localhost/walship:image-test-pg15';
const MAX_DRILL_IMAGE_BYTES = 700e6;

async function imageBytes(name: string): Promise<number> {
  return Number((await must('podman', [`--storage-driver=${driver}`, 'image', 'inspect', '--format', '{{.Size}}', name])).trim());
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], timeout = 60_000, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: root, timeout, env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

async function must(cmd: string, args: string[], timeout?: number): Promise<string> {
  const r = await exec(cmd, args, timeout);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe('container image (docker/Dockerfile)', { timeout: BUILD_TIMEOUT_MS + 120_000 }, () => {
  let container = '';
  // Runs a command in the image as the image's user, the way buildah runs it.
  const run = (args: string[]) =>
    exec('buildah', [`--storage-driver=${driver}`, 'run', '--isolation', 'chroot', container, '--', ...args]);

  before(async () => {
    const missing = [];
    for (const tool of ['buildah', 'podman', 'debootstrap']) {
      if ((await exec('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`])).code !== 0) missing.push(tool);
    }
    assert.deepEqual(missing, [], `the image test needs ${missing.join(', ')}: run .ci/install-deps (apt-get install podman buildah debootstrap)`);
    assert.equal(process.getuid?.(), 0, 'the image test needs root: debootstrap, and buildah with vfs storage and chroot isolation');

    const start = Date.now();
    const build = await exec('bash', ['docker/build.sh', image], BUILD_TIMEOUT_MS);
    assert.equal(build.code, 0, `docker/build.sh failed (exit ${build.code}):\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`);
    console.log(`# image built in ${Math.round((Date.now() - start) / 1000)} s`);
    container = (await must('buildah', [`--storage-driver=${driver}`, 'from', '--pull=never', image])).trim();
  });

  after(async () => {
    if (container) await exec('buildah', [`--storage-driver=${driver}`, 'rm', container]);
  });

  test('the entrypoint runs walship on Node 24: --version and --help', async () => {
    const pkg = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as { version: string };
    const entrypoint = JSON.parse(await must('podman', [`--storage-driver=${driver}`, 'image', 'inspect', '--format', '{{json .Config.Entrypoint}}', image])) as string[];
    const cmd = JSON.parse(await must('podman', [`--storage-driver=${driver}`, 'image', 'inspect', '--format', '{{json .Config.Cmd}}', image])) as string[];
    assert.deepEqual(entrypoint, ['/opt/walship/node_modules/node/bin/node', '/opt/walship/bin/walship']);
    assert.deepEqual(cmd, ['agent']);

    const version = await run([...entrypoint, '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), pkg.version);

    const help = await run(['walship', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const command of ['agent', 'install-client', 'wal-push', 'wal-fetch', 'backup-push', 'st']) {
      assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `--help lists ${command}`);
    }

    const node = await run(['node', '--version']);
    assert.match(node.stdout, /^v24\./);
  });

  test('runs as a non-root user (uid 999, like postgres in the official image)', async () => {
    const user = (await must('podman', [`--storage-driver=${driver}`, 'image', 'inspect', '--format', '{{.Config.User}}', image])).trim();
    assert.equal(user, '999:999');
    const id = await run(['id']);
    assert.equal(id.code, 0, id.stderr);
    assert.match(id.stdout, /^uid=999\(walship\) gid=999\(walship\)/);
    const env = (await run(['sh', '-c', 'echo "$HOME $NODE_ENV"'])).stdout.trim();
    assert.equal(env, '/tmp production');
    const ports = await must('podman', [`--storage-driver=${driver}`, 'image', 'inspect', '--format', '{{json .Config.ExposedPorts}}', image]);
    assert.match(ports, /"9351\/tcp"/);
  });

  test('walship-client is at /opt/walship/client and works under the image\'s sh; install-client copies it', async () => {
    const usage = await run(['sh', '/opt/walship/client/walship-client']);
    assert.equal(usage.code, 64, `exit ${usage.code}: ${usage.stderr}`);
    assert.match(usage.stderr, /usage: walship-client wal-push <wal-file-path>/);

    const install = await run(['sh', '-c', 'walship install-client /tmp/w && cmp /tmp/w/walship-client /opt/walship/client/walship-client && test -x /tmp/w/walship-client && test -d /tmp/w/spool && echo same']);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /installed \/tmp\/w\/walship-client/);
    assert.match(install.stdout, /^same$/m);
  });

  test('holds no PostgreSQL client binaries, no npm and no build tools', async () => {
    const found = await run(['sh', '-c', 'for c in psql pg_dump pg_basebackup pg_receivewal npm npx tsc gcc; do command -v $c; done; ls /usr/lib/postgresql 2>/dev/null; true']);
    assert.equal(found.stdout.trim(), '', `unexpected in the image:\n${found.stdout}`);
  });

  test('has a reasonable size', async () => {
    const bytes = await imageBytes(image);
    console.log(`# image size: ${(bytes / 1e6).toFixed(1)} MB (${bytes} bytes)`);
    assert.ok(bytes > 50e6, `implausibly small: ${bytes}`);
    assert.ok(bytes < MAX_IMAGE_BYTES, `image is ${(bytes / 1e6).toFixed(1)} MB, over ${MAX_IMAGE_BYTES / 1e6} MB`);
  });
});

// Built after the default image, from the same base and the same layers: only
// the PG_MAJOR install and what follows it are new, so the extra time is that
// of one apt-get install of postgresql-15 from Debian's mirror.
describe('container image, restore-drill variant (--build-arg PG_MAJOR=15)', { timeout: BUILD_TIMEOUT_MS + 120_000 }, () => {
  let container = '';
  const run = (args: string[]) =>
    exec('buildah', [`--storage-driver=${driver}`, 'run', '--isolation', 'chroot', container, '--', ...args]);

  before(async () => {
    const start = Date.now();
    const build = await exec('bash', ['docker/build.sh', drillImage], BUILD_TIMEOUT_MS, { ...process.env, WALSHIP_PG_MAJOR: '15' });
    assert.equal(build.code, 0, `WALSHIP_PG_MAJOR=15 docker/build.sh failed (exit ${build.code}):\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`);
    console.log(`# drill variant built in ${Math.round((Date.now() - start) / 1000)} s (after the default image, its layers cached)`);
    container = (await must('buildah', [`--storage-driver=${driver}`, 'from', '--pull=never', drillImage])).trim();
  });

  after(async () => {
    if (container) await exec('buildah', [`--storage-driver=${driver}`, 'rm', container]);
  });

  test('walship runs, and restore-drill is there', async () => {
    const pkg = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as { version: string };
    const version = await run(['walship', '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), pkg.version);
    const help = await run(['walship', 'restore-drill', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /restore-drill/);
  });

  test('holds PostgreSQL 15\'s server binaries where restore-drill looks, and amcheck', async () => {
    const postgres = await run(['/usr/lib/postgresql/15/bin/postgres', '--version']);
    assert.equal(postgres.code, 0, postgres.stderr);
    assert.match(postgres.stdout, /^postgres \(PostgreSQL\) 15\./);
    const controldata = await run(['/usr/lib/postgresql/15/bin/pg_controldata', '--version']);
    assert.equal(controldata.code, 0, controldata.stderr);
    assert.match(controldata.stdout, /pg_controldata \(PostgreSQL\) 15\./);
    const amcheck = await run(['sh', '-c', 'ls /usr/share/postgresql/15/extension/amcheck.control']);
    assert.equal(amcheck.code, 0, `contrib's amcheck is missing: ${amcheck.stderr}`);
  });

  test('creates no cluster and still runs as uid 999', async () => {
    const clusters = await run(['sh', '-c', 'ls /etc/postgresql 2>/dev/null; ls /var/lib/postgresql/15 2>/dev/null; true']);
    assert.equal(clusters.stdout.trim(), '', `a cluster was created:\n${clusters.stdout}`);
    const id = await run(['id', '-u']);
    assert.equal(id.stdout.trim(), '999');
  });

  test('its size, beside the default image', async () => {
    const bytes = await imageBytes(drillImage);
    const base = await imageBytes(image);
    console.log(`# drill variant size: ${(bytes / 1e6).toFixed(1)} MB (${bytes} bytes), default image ${(base / 1e6).toFixed(1)} MB, +${((bytes - base) / 1e6).toFixed(1)} MB`);
    assert.ok(bytes > base + 50e6, `the variant (${bytes}) should be clearly larger than the default image (${base}): PostgreSQL was not installed?`);
    assert.ok(bytes < MAX_DRILL_IMAGE_BYTES, `the drill variant is ${(bytes / 1e6).toFixed(1)} MB, over ${MAX_DRILL_IMAGE_BYTES / 1e6} MB`);
  });
});
