import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { WALSHIP_BIN, runWalship } from '../support/cli.ts';
import { processesMentioning } from '../support/demo-leftovers.ts';

// `walship demo`, the first command a newcomer runs, end to end with real
// PostgreSQL: it must finish with the data matched and leave nothing behind,
// also when interrupted with Ctrl-C.

/** A temp directory of the demo's own (TMPDIR), so whatever it leaves is seen. */
async function demoTmp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'walship-demo-test-'));
  await chmod(dir, 0o755); // the postgres user must reach the workspace inside
  return dir;
}

async function assertNothingLeft(tmp: string, workspace: string): Promise<void> {
  assert.ok(workspace.startsWith(`${tmp}/walship-demo-`), `the workspace ${workspace} is in TMPDIR`);
  await assert.rejects(stat(workspace), { code: 'ENOENT' }, 'the workspace is gone');
  // Node's compile cache (bin/walship turns it on) belongs to every walship run, not to the demo.
  assert.deepEqual((await readdir(tmp)).filter((n) => n !== 'node-compile-cache'), [], 'no other temp files or directories');
  assert.deepEqual(await processesMentioning(workspace), [], 'no PostgreSQL, agent or client process of the demo is left');
}

describe('walship demo', () => {
  const tmps: string[] = [];
  after(async () => {
    for (const t of tmps) await rm(t, { recursive: true, force: true });
  });

  test('runs to the end: the data matches, with timings, sizes and metrics, and nothing is left behind', { timeout: 180_000 }, async (t) => {
    const tmp = await demoTmp();
    tmps.push(tmp);
    const started = Date.now();
    const r = await runWalship(['demo', '--scale', '1', '--seconds', '2'], { TMPDIR: tmp });
    t.diagnostic(`walship demo took ${Date.now() - started} ms`);
    assert.equal(r.code, 0, `exit 0\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^DATA MATCHED: restored to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00/m);
    for (const step of ['cluster', 'agent', 'load', 'backup', 'workload', 'archive', 'restore', 'check']) {
      assert.match(r.stdout, new RegExp(`^ ?\\d  ${step} +\\d+\\.\\d s  `, 'm'), `step ${step} is reported with its time`);
    }
    assert.match(r.stdout, /http:\/\/127\.0\.0\.1:\d+\/metrics/);
    assert.match(r.stdout, /walship_wal_archived_segments_total [1-9]\d*/);
    assert.match(r.stdout, /ok {3}events written after the target: 0 of 10 present/);
    assert.match(r.stdout, /\d+\.\d MiB stored/);
    assert.match(r.stdout, /cleanup .*workspace removed/);
    assert.doesNotMatch(r.stdout, /FAILED|BAD/);
    const workspace = /^workspace (\S+)/m.exec(r.stdout)?.[1];
    assert.ok(workspace, 'it says where it works');
    await assertNothingLeft(tmp, workspace);
  });

  test('Ctrl-C stops and removes everything, and exits 130', { timeout: 180_000 }, async () => {
    const tmp = await demoTmp();
    tmps.push(tmp);
    const child = spawn(process.execPath, [WALSHIP_BIN, 'demo', '--scale', '1', '--seconds', '30'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let interrupted = false;
    child.stderr.resume();
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      // During pgbench's run, with both the primary and its agent up.
      if (!interrupted && /^ 4  backup /m.test(out)) {
        interrupted = true;
        setTimeout(() => child.kill('SIGINT'), 500);
      }
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.ok(interrupted, `it got as far as the backup:\n${out}`);
    assert.equal(code, 130, out);
    assert.match(out, /interrupted \(SIGINT\): stopping and removing everything/);
    assert.match(out, /cleanup .*primary cluster stopped, primary agent stopped, workspace removed/);
    await assertNothingLeft(tmp, /^workspace (\S+)/m.exec(out)![1]!);
  });

  test('without the PostgreSQL binaries it says what it needs', async () => {
    const r = await runWalship(['demo', '--pg-bin', '/nonexistent/bin']);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /--pg-bin \/nonexistent\/bin: expected the PostgreSQL binaries there \(initdb, pg_ctl, postgres, pgbench\)/);
    assert.equal(r.stdout, '');
  });
});
