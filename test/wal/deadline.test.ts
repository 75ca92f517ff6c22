import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { startBlackhole } from '../support/blackhole.ts';
import { runWalship } from '../support/cli.ts';
import { writeSegment } from '../support/wal-segments.ts';

// A store that takes connections and never answers would hold each
// archive_command and restore_command call for all its attempts (five of
// 30 s by default). WALSHIP_PUSH_TIMEOUT and WALSHIP_FETCH_TIMEOUT bound a
// whole call: here 2 s, with the per-attempt deadlines left at their
// defaults, so only the overall deadline can end the calls in time.

const DEADLINE_MS = 2000;
/** Process start-up (the S3 SDK loads in about 0.4 s) and the unwinding after the deadline. */
const SLACK_MS = 2500;
const SEG = '000000010000000000000007';

function s3Env(endpoint: string): Record<string, string> {
  return {
    WALG_S3_PREFIX: 's3://hung/archive',
    AWS_ENDPOINT: endpoint,
    AWS_S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'testtesttest',
    WALSHIP_PUSH_TIMEOUT: `${DEADLINE_MS}ms`,
    WALSHIP_FETCH_TIMEOUT: `${DEADLINE_MS}ms`,
  };
}

/** A store that answers a read with its headers and the first MiB of the body, then stalls. */
async function startStallingStore(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(16 * 1024 * 1024), 'last-modified': new Date().toUTCString() });
    res.write(Buffer.alloc(1024 * 1024, 7));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('an overall deadline for each wal-push and wal-fetch against a hung store', () => {
  let dir: string;
  let pgWal: string;
  let blackhole: Awaited<ReturnType<typeof startBlackhole>>;
  const agents: AgentProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'walship-deadline-'));
    pgWal = join(dir, 'pgdata', 'pg_wal');
    await mkdir(join(pgWal, 'archive_status'), { recursive: true });
    blackhole = await startBlackhole();
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await blackhole.close();
    await rm(dir, { recursive: true, force: true });
  });

  const within = (ms: number) => {
    assert.ok(ms >= DEADLINE_MS - 50, `ended after ${Math.round(ms)} ms, before the deadline`);
    assert.ok(ms <= DEADLINE_MS + SLACK_MS, `ended after ${Math.round(ms)} ms, not within the ${DEADLINE_MS} ms deadline`);
  };

  test('walship wal-push fails with STORE_TIMEOUT (75) at the deadline', async () => {
    const path = await writeSegment(pgWal, { name: SEG });
    const started = performance.now();
    const r = await runWalship(['wal-push', path], s3Env(blackhole.url));
    within(performance.now() - started);
    assert.equal(r.code, 75, r.stderr);
    assert.match(r.stderr, new RegExp(`^walship: STORE_TIMEOUT: wal-push ${SEG}: not archived within ${DEADLINE_MS} ms \\(WALSHIP_PUSH_TIMEOUT\\)`));
  });

  test('walship wal-fetch fails with 126, not "not found", and leaves nothing at %p', async () => {
    const dest = join(dir, 'restore', 'RECOVERYXLOG');
    await mkdir(join(dir, 'restore'));
    const started = performance.now();
    const r = await runWalship(['wal-fetch', SEG, dest], s3Env(blackhole.url));
    within(performance.now() - started);
    assert.equal(r.code, 126, r.stderr);
    assert.match(r.stderr, new RegExp(`^walship: WAL_FETCH_FAILED: could not restore ${SEG}: no answer from the store within ${DEADLINE_MS} ms \\(WALSHIP_FETCH_TIMEOUT\\)`));
    assert.deepEqual(await readdir(join(dir, 'restore')), []);
  });

  test('a download that stalls halfway is aborted at the deadline and its partial file removed', async () => {
    const stalling = await startStallingStore();
    try {
      const restoreDir = join(dir, 'restore-stall');
      await mkdir(restoreDir);
      const started = performance.now();
      const running = runWalship(['wal-fetch', SEG, join(restoreDir, 'RECOVERYXLOG')], { ...s3Env(stalling.url), WALG_COMPRESSION_METHOD: 'none' });
      // The first MiB reaches a temporary file beside %p before the store stalls.
      let sawPartial = false;
      while (!sawPartial && performance.now() - started < DEADLINE_MS + SLACK_MS) {
        sawPartial = (await readdir(restoreDir)).some((f) => f.endsWith('.tmp'));
        await sleep(20);
      }
      const r = await running;
      within(performance.now() - started);
      assert.ok(sawPartial, 'the download had begun writing');
      assert.equal(r.code, 126, r.stderr);
      assert.match(r.stderr, /WAL_FETCH_FAILED: could not restore .*WALSHIP_FETCH_TIMEOUT/);
      assert.deepEqual(await readdir(restoreDir), [], 'neither %p nor a temporary file is left');
    } finally {
      await stalling.close();
    }
  });

  test('through the agent: each request is answered at its deadline, 75 for wal-push and 126 for wal-fetch', async () => {
    const shared = join(dir, 'shared');
    await mkdir(shared);
    const installed = await runWalship(['install-client', shared]);
    assert.equal(installed.code, 0, installed.stderr);
    const pgdata = join(dir, 'pgdata');
    const agent = await startAgentProcess({
      ...s3Env(blackhole.url),
      PGDATA: pgdata,
      WALSHIP_SPOOL_DIR: join(shared, 'spool'),
      WALSHIP_FOLLOW_WAL: 'false',
      WALSHIP_BACKUP_SCHEDULE: 'off',
    });
    agents.push(agent);
    const client = async (args: string[]) => {
      const started = performance.now();
      const child = spawn('/bin/sh', [join(shared, 'walship-client'), ...args], { env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const [code] = (await once(child, 'close')) as [number];
      return { code, stderr, ms: performance.now() - started };
    };
    const push = await client(['wal-push', join(pgWal, SEG)]);
    within(push.ms);
    assert.equal(push.code, 75, push.stderr);
    assert.match(push.stderr, /STORE_TIMEOUT: wal-push .*WALSHIP_PUSH_TIMEOUT/);

    await mkdir(join(pgdata, 'restore'));
    const fetch = await client(['wal-fetch', SEG, join(pgdata, 'restore', 'RECOVERYXLOG')]);
    within(fetch.ms);
    assert.equal(fetch.code, 126, fetch.stderr);
    assert.match(fetch.stderr, /WAL_FETCH_FAILED: could not restore .*WALSHIP_FETCH_TIMEOUT/);
    assert.deepEqual(await readdir(join(pgdata, 'restore')), []);
  });
});
