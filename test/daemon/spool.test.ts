import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSlotToken, spoolLayout } from '../../agent/daemon/spool/layout.ts';
import { startSpoolServer, type SpoolHandler, type SpoolServer, type SpoolServerOptions } from '../../agent/daemon/spool/server.ts';
import { SLOT_POOL_LOW, SLOT_POOL_SIZE } from '../../agent/daemon/spool/slot-pool.ts';
import { sweepStale } from '../../agent/daemon/spool/sweep.ts';
import { CLIENT, clientShells, runClient, type Shell } from '../support/spool-client.ts';
import { scriptedHandler } from '../support/spool-handler.ts';

let root: string;
let shells: Shell[];
let counter = 0;
/** A fresh directory under the test's root. */
const fresh = async (name: string) => {
  const dir = join(root, `${name}-${++counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
};

/** The tokens of the answer slots ready for a client: FIFOs resp/<token>.slot that nobody claimed. */
async function poolSlots(spool: string): Promise<string[]> {
  const names = await readdir(join(spool, 'resp'));
  const tokens = [];
  for (const name of names) {
    const token = name.endsWith('.slot') ? name.slice(0, -'.slot'.length) : undefined;
    if (token === undefined || names.includes(`${token}.claim`)) continue;
    if ((await lstat(join(spool, 'resp', name)).catch(() => undefined))?.isFIFO()) tokens.push(token);
  }
  return tokens.sort();
}

/** Every name in req/ and resp/, temp files included. */
async function spoolNames(spool: string): Promise<string[]> {
  const names = [];
  for (const sub of ['req', 'resp']) for (const name of await readdir(join(spool, sub))) names.push(`${sub}/${name}`);
  return names.sort();
}

/** spoolNames but for the pool's ready slots (poolSlots): what is left of requests. */
async function spoolContents(spool: string): Promise<string[]> {
  const pool = new Set((await poolSlots(spool)).map((t) => `resp/${t}.slot`));
  return (await spoolNames(spool)).filter((n) => !pool.has(n));
}

/**
 * A server whose agent has no mkfifo on its PATH, so it makes no slots and
 * every client falls back to a FIFO of its own. The failure is reported
 * once, at start-up; the retry is a minute away, beyond any test here.
 */
async function startWithoutSlots(options: SpoolServerOptions): Promise<{ server: SpoolServer; errors: unknown[] }> {
  const errors: unknown[] = [];
  const saved = process.env.PATH;
  process.env.PATH = join(root, 'no-commands');
  try {
    const server = await startSpoolServer({ ...options, onError: (err) => errors.push(err) });
    return { server, errors };
  } finally {
    process.env.PATH = saved;
  }
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * The agent removes a claimed request only after writing its answer, so a
 * client may exit a moment before the spool settles.
 */
async function expectSpool(spool: string, expected: string[], message?: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let names = await spoolContents(spool);
  while (JSON.stringify(names) !== JSON.stringify(expected) && Date.now() < deadline) {
    await sleep(10);
    names = await spoolContents(spool);
  }
  assert.deepEqual(names, expected, message);
}

/**
 * A request written by hand, the way the client does it: a FIFO to hear the
 * answer on, then the request file. Resolves with the raw answer.
 */
async function rawRequest(spool: string, id: string, content: string | Buffer): Promise<string> {
  const fifo = join(spool, 'resp', id);
  execFileSync('mkfifo', [fifo]);
  const channel = await open(fifo, constants.O_RDWR);
  try {
    await writeFile(join(spool, 'req', `${id}.req`), content, { flag: 'wx' });
    return await readAnswer(channel);
  } finally {
    await channel.close();
  }
}

/** Reads a whole answer from an answer FIFO open for reading. */
async function readAnswer(channel: FileHandle): Promise<string> {
  let answer = '';
  const buffer = Buffer.alloc(4096);
  // Complete once the line count on the second line is matched.
  for (;;) {
    const { bytesRead } = await channel.read(buffer, 0, buffer.length);
    answer += buffer.subarray(0, bytesRead).toString();
    const [, count, ...rest] = answer.split('\n');
    if (count !== undefined && rest.length > Number(count)) return answer;
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'walship-spool-'));
  shells = await clientShells(root);
});
after(() => rm(root, { recursive: true, force: true }));

for (const shellName of ['dash', 'busybox sh']) {
  describe(`walship-client under ${shellName}`, () => {
    let shell: Shell;
    let spool: string;
    let work: string;
    let server: SpoolServer;
    const scripted = scriptedHandler();
    before(async () => {
      shell = shells.find((s) => s.name === shellName)!;
      work = await fresh('work');
      spool = join(await fresh('spool'), 'spool');
      server = await startSpoolServer({ dir: spool, handler: scripted.handler });
    });
    after(() => server.close());
    const client = (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) =>
      runClient(shell, args, { spool, cwd: options.cwd ?? work, ...(options.env ? { env: options.env } : {}) });

    test('wal-push and wal-fetch round-trip a file whose path has spaces, relative paths made absolute', async () => {
      const dataDir = join(work, 'data dir');
      await mkdir(join(dataDir, 'pg_wal'), { recursive: true });
      await writeFile(join(dataDir, 'pg_wal', '000000010000000000000001'), 'segment one');
      // PostgreSQL passes %p relative to the data directory, its cwd; a stale
      // PWD inherited from elsewhere must not fool the client.
      const push = await client(['wal-push', 'pg_wal/000000010000000000000001'], { cwd: dataDir, env: { PWD: '/' } });
      assert.equal(push.code, 0, push.stderr);
      assert.equal(push.stderr, '');
      assert.deepEqual(scripted.requests.at(-1)?.args, [join(dataDir, 'pg_wal', '000000010000000000000001')]);

      const fetch = await client(['wal-fetch', '000000010000000000000001', 'pg_wal/RECOVERYXLOG'], { cwd: dataDir });
      assert.equal(fetch.code, 0, fetch.stderr);
      assert.equal(await readFile(join(dataDir, 'pg_wal', 'RECOVERYXLOG'), 'utf8'), 'segment one');
      const last = scripted.requests.at(-1)!;
      assert.deepEqual(last, {
        id: last.id,
        op: 'wal-fetch',
        args: ['000000010000000000000001', join(dataDir, 'pg_wal', 'RECOVERYXLOG')],
        queuedMs: last.queuedMs,
      });
      assert.ok(typeof last.queuedMs === 'number' && last.queuedMs >= 0 && last.queuedMs < 5000, `queued ${last.queuedMs} ms`);
      await expectSpool(spool, [], 'the client cleans up after itself');
    });

    test("passes the agent's exit code through, with its message on stderr", async () => {
      const scriptFile = join(work, 'answer three');
      await writeFile(scriptFile, JSON.stringify({ exitCode: 3, message: 'line one\nline two' }));
      const three = await client(['wal-push', scriptFile]);
      assert.equal(three.code, 3);
      assert.equal(three.stderr, 'line one\nline two\n');

      const missing = await client(['wal-fetch', '0000000100000000000000FF', join(work, 'x')]);
      assert.equal(missing.code, 74);
      assert.equal(missing.stderr, 'walship: 0000000100000000000000FF is not in the archive\n');

      const thrown = await client(['wal-fetch', 'THROW', join(work, 'x')]);
      assert.equal(thrown.code, 70);
      assert.equal(thrown.stderr, 'walship: INTERNAL: the handler blew up\n');

      const walshipError = await client(['wal-fetch', 'BADNAME', join(work, 'x')]);
      assert.equal(walshipError.code, 64);
      assert.equal(walshipError.stderr, 'walship: WAL_BAD_NAME: BADNAME is not a WAL file name\n');
      await expectSpool(spool, []);
    });

    test('wrong usage exits 64 with the usage text, without contacting the agent', async () => {
      const before = scripted.requests.length;
      for (const args of [[], ['wal-push'], ['wal-push', 'a', 'b'], ['wal-fetch', 'a'], ['wal-get', 'a'], ['wal-push', '']]) {
        const r = await client(args);
        assert.equal(r.code, 64, `${JSON.stringify(args)}: ${r.stderr}`);
        assert.match(r.stderr, /^usage: walship-client wal-push <wal-file-path>\n {7}walship-client wal-fetch <wal-file-name> <destination-path>\n/);
      }
      const newline = await client(['wal-push', 'a\nb']);
      assert.equal(newline.code, 64);
      assert.match(newline.stderr, /must not contain a newline/);
      const badTimeout = await client(['wal-push', '/x'], { env: { WALSHIP_CLIENT_TIMEOUT: '1m' } });
      assert.equal(badTimeout.code, 78);
      assert.match(badTimeout.stderr, /WALSHIP_CLIENT_TIMEOUT must be a whole number of seconds/);
      assert.equal(scripted.requests.length, before);
    });

    test('a missing spool directory exits 69 at once, naming it', async () => {
      const nowhere = join(work, 'no-such-spool');
      const r = await runClient(shell, ['wal-push', '/x'], { spool: nowhere, cwd: work });
      assert.equal(r.code, 69);
      assert.match(r.stderr, new RegExp(`spool directory ${nowhere} is missing or not writable: is the walship agent running`));
      // restore_command must make recovery stop, not end early: PostgreSQL reads exits below 126 as "not archived".
      const fetch = await runClient(shell, ['wal-fetch', '000000010000000000000001', '/pg/pg_wal/RECOVERYXLOG'], { spool: nowhere, cwd: work });
      assert.equal(fetch.code, 126);
    });

    test('agent not running: exits 69 after the pickup timeout and takes its request back', async () => {
      const idle = join(await fresh('idle'), 'spool');
      await (await startSpoolServer({ dir: idle, handler: scripted.handler })).close();
      const pool = await poolSlots(idle);
      const r = await runClient(shell, ['wal-push', '/pg/pg_wal/000000010000000000000002'], {
        spool: idle,
        cwd: work,
        env: { WALSHIP_CLIENT_PICKUP_TIMEOUT: '1' },
      });
      assert.equal(r.code, 69);
      assert.match(r.stderr, new RegExp(`^walship-client: walship agent is not running / not serving ${idle}: the request was not picked up within 1 s`));
      assert.ok(r.ms >= 1000 && r.ms < 3000, `gave up after ${r.ms.toFixed(0)} ms`);
      assert.deepEqual(await spoolContents(idle), []);
      assert.equal((await poolSlots(idle)).length, pool.length - 1, 'the slot it took is gone, claim and all');
    });

    test('killed while its request waits unclaimed, the client takes it back', async () => {
      const idle = join(await fresh('idle'), 'spool');
      await (await startSpoolServer({ dir: idle, handler: scripted.handler })).close();
      const pool = await poolSlots(idle);
      const child = spawn(shell.argv[0]!, [...shell.argv.slice(1), CLIENT, 'wal-push', '/pg/x'], { env: { PATH: shell.path, WALSHIP_SPOOL: idle }, stdio: 'ignore' });
      const exited = once(child, 'exit');
      await waitFor('the queued request', async () => (await spoolContents(idle)).some((n) => n.endsWith('.req')));
      child.kill('SIGTERM');
      assert.deepEqual(await exited, [143, null]);
      assert.deepEqual(await spoolContents(idle), []);
      assert.equal((await poolSlots(idle)).length, pool.length - 1, 'the slot it took is gone, claim and all');
    });

    test('a withdrawal racing with the claim ends either withdrawn or answered, never both', async (t) => {
      // A pickup timeout of 0 makes the client withdraw at once, while the
      // agent is claiming the same request.
      const runs = [];
      for (let i = 0; i < 30; i++) {
        runs.push(await client(['wal-fetch', '000000010000000000000000', `/restore/race ${i}`], { env: { WALSHIP_CLIENT_PICKUP_TIMEOUT: '0' } }));
      }
      await waitFor('the spool to empty', async () => (await spoolContents(spool)).length === 0);
      const served = new Set(scripted.requests.map((r) => r.args[1]));
      runs.forEach((r, i) => {
        assert.ok(r.code === 126 || r.code === 74, `exit ${r.code}: ${r.stderr}`);
        assert.equal(served.has(`/restore/race ${i}`), r.code === 74, `run ${i} exited ${r.code}`);
      });
      t.diagnostic(`${runs.filter((r) => r.code === 126).length} withdrawn, ${runs.filter((r) => r.code === 74).length} claimed first and answered`);
    });

    test('leftovers of an earlier process with the same pid do not confuse the client', async () => {
      const own = join(await fresh('no-slots'), 'spool');
      const { server: noSlots } = await startWithoutSlots({ dir: own, handler: scripted.handler });
      try {
        // The wrapper plants an answer and a claimed request under its own pid,
        // then becomes the client (exec keeps the pid).
        const wrapper = join(work, 'plant-leftovers');
        await writeFile(wrapper, 'printf "0\\nSTALE ANSWER\\n" > "$WALSHIP_SPOOL/resp/$$"\nprintf "wal-push\\n/stale\\n" > "$WALSHIP_SPOOL/req/$$.work"\necho $$ >&2\nexec "$@"\n');
        const segment = join(work, 'fresh segment');
        await writeFile(segment, JSON.stringify({ exitCode: 5, message: 'the fresh answer' }));
        const r = await runClient(shell, [...shell.argv, CLIENT, 'wal-push', segment], { spool: own, cwd: work, script: wrapper });
        const pid = r.stderr.split('\n')[0]!;
        assert.equal(r.code, 5, r.stderr);
        assert.equal(r.stderr, `${pid}\nthe fresh answer\n`);
        assert.equal(scripted.requests.at(-1)!.id, `${pid}.1`);
        await expectSpool(own, [`req/${pid}.work`, `resp/${pid}`], 'the leftovers are left alone');
      } finally {
        await noSlots.close();
      }
    });

    test('takes an answer slot the agent made: no mkfifo, no rm, nothing but sleep', async () => {
      const sleepOnly: Shell = { ...shell, path: shell.slotPath };
      // Clients that took their request back used slots up unseen: one
      // served request makes the agent count again.
      assert.equal((await client(['wal-fetch', '0000000100000000000000FD', join(work, 'y')])).code, 74);
      await waitFor('a full pool', async () => (await poolSlots(spool)).length >= SLOT_POOL_LOW);
      for (const [i, args] of [['wal-push', 'answer seven'], ['wal-fetch', '0000000100000000000000FD', join(work, 'y')]].entries()) {
        const pool = await poolSlots(spool);
        if (i === 0) await writeFile(join(work, 'answer seven'), JSON.stringify({ exitCode: 7, message: 'through a slot' }));
        const r = await runClient(sleepOnly, args!, { spool, cwd: work });
        assert.deepEqual([r.code, r.stderr], i === 0 ? [7, 'through a slot\n'] : [74, 'walship: 0000000100000000000000FD is not in the archive\n']);
        const id = scripted.requests.at(-1)!.id;
        assert.ok(pool.includes(id), `request ${id} went through one of the pool's slots, ${pool.join(' ')}`);
        await expectSpool(spool, [], 'the slot is retired, its claim and the request removed');
        assert.ok(!(await poolSlots(spool)).includes(id), 'a slot serves once');
      }
    });

    test('without slots (the agent has no mkfifo) it makes its own FIFO', async () => {
      const own = join(await fresh('no-slots'), 'spool');
      const { server: noSlots, errors } = await startWithoutSlots({ dir: own, handler: scripted.handler });
      try {
        assert.equal(errors.length, 1);
        assert.match((errors[0] as Error).message, /cannot make answer slots in .*clients make their own answer FIFO meanwhile/);
        assert.deepEqual(await poolSlots(own), []);
        for (let i = 0; i < 3; i++) {
          const r = await runClient(shell, ['wal-fetch', '0000000100000000000000FE', join(work, 'x')], { spool: own, cwd: work });
          assert.equal(r.code, 74, r.stderr);
          assert.equal(scripted.requests.at(-1)!.id, String(r.pid), 'its own id, its pid');
        }
        await expectSpool(own, []);
        // Debian's busybox runs its own mkfifo whatever PATH says; dash cannot.
        if (shell.name === 'dash') {
          const r = await runClient({ ...shell, path: shell.slotPath }, ['wal-push', '/pg/x'], { spool: own, cwd: work });
          assert.equal(r.code, 69);
          assert.match(r.stderr, /cannot make the answer channel .* \(is mkfifo installed/);
        }
        assert.equal(errors.length, 1, 'reported once');
      } finally {
        await noSlots.close();
      }
    });

    test('skips slots it cannot own: claimed by another client, not a FIFO, not named by a token', async () => {
      const other = join(await fresh('taken'), 'spool');
      const taken = scriptedHandler();
      const server = await startSpoolServer({ dir: other, handler: taken.handler });
      try {
        const pool = await poolSlots(other);
        assert.equal(pool.length, SLOT_POOL_SIZE);
        for (const token of pool) await writeFile(join(other, 'resp', `${token}.claim`), '', { flag: 'wx' });
        execFileSync('mkfifo', [join(other, 'resp', '123.slot'), join(other, 'resp', 'a-b.slot')]);
        await writeFile(join(other, 'resp', 'zzz.slot'), '');
        const r = await runClient(shell, ['wal-fetch', '0000000100000000000000FB', '/pg/skip'], { spool: other, cwd: work });
        assert.equal(r.code, 74, r.stderr);
        assert.equal(taken.requests.at(-1)!.id, String(r.pid), 'it made its own FIFO');
        const claims = (await readdir(join(other, 'resp'))).filter((n) => n.endsWith('.claim')).sort();
        assert.deepEqual(claims, pool.map((t) => `${t}.claim`), 'it claimed nothing');
      } finally {
        await server.close();
      }
    });

    test('20 concurrent clients, more than the pool holds, each get their own answer, and no slot serves twice', async (t) => {
      const first = scripted.requests.length;
      const runs = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const file = join(work, `concurrent ${i}`);
          await writeFile(file, JSON.stringify({ exitCode: i % 2 === 0 ? 0 : 100 + i, message: `answer for client ${i}`, delayMs: 30 }));
          return client(['wal-push', file]);
        }),
      );
      runs.forEach((r, i) => {
        assert.equal(r.code, i % 2 === 0 ? 0 : 100 + i);
        assert.equal(r.stderr, `answer for client ${i}\n`);
      });
      assert.ok(scripted.peakConcurrency > 1 && scripted.peakConcurrency <= 4, `peak concurrency ${scripted.peakConcurrency}`);
      await expectSpool(spool, []);
      const ids = scripted.requests.slice(first).map((r) => r.id);
      assert.equal(ids.length, 20);
      assert.equal(new Set(ids).size, ids.length, 'every request had an id, and an answer channel, of its own');
      const throughSlots = ids.filter(isSlotToken);
      assert.ok(throughSlots.length > 0, 'some took slots');
      t.diagnostic(`${throughSlots.length} of 20 through slots, the others through FIFOs of their own`);
      await waitFor('the pool to refill', async () => (await poolSlots(spool)).length >= SLOT_POOL_LOW);
      const pool = await poolSlots(spool);
      assert.ok(pool.length <= SLOT_POOL_SIZE, `a pool of ${pool.length}`);
      for (const token of throughSlots) assert.ok(!pool.includes(token), `slot ${token} served and is back in the pool`);
    });

    test('waves of clients racing for slots answered at once: each hears its own answer', async (t) => {
      const racing = join(await fresh('racing'), 'spool');
      const seen: string[] = [];
      const server = await startSpoolServer({
        dir: racing,
        handler: async (req) => (seen.push(req.id), { exitCode: 0, message: `${req.id} ${req.args.join(' ')}` }),
      });
      try {
        for (let wave = 0; wave < 3; wave++) {
          const runs = await Promise.all(
            Array.from({ length: 3 * SLOT_POOL_SIZE }, (_, i) => runClient(shell, ['wal-push', `/pg/wave ${wave} client ${i}`], { spool: racing, cwd: work })),
          );
          runs.forEach((r, i) => {
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stderr, new RegExp(`^\\S+ /pg/wave ${wave} client ${i}\\n$`), 'its own answer');
          });
        }
        assert.equal(new Set(seen).size, seen.length, 'no id, so no answer channel, served twice');
        // A client whose slot was served and retired between its glob and its
        // claim leaves that claim, without a FIFO, for the sweep.
        const names = await spoolNames(racing);
        const lost = names.filter((n) => n.endsWith('.claim') && !names.includes(n.replace(/\.claim$/, '.slot')));
        await expectSpool(racing, lost);
        t.diagnostic(`${seen.filter(isSlotToken).length} of ${seen.length} through slots; ${lost.length} claims lost to a retirement`);
      } finally {
        await server.close();
      }
    });

    test('clients one after another keep finding slots: the pool refills behind them', async () => {
      const first = scripted.requests.length;
      for (let i = 0; i < 2 * SLOT_POOL_SIZE + 2; i++) {
        const r = await client(['wal-fetch', '0000000100000000000000FC', join(work, 'z')]);
        assert.equal(r.code, 74, r.stderr);
      }
      const ids = scripted.requests.slice(first).map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length);
      const throughSlots = ids.filter(isSlotToken).length;
      assert.ok(throughSlots > SLOT_POOL_SIZE, `${throughSlots} of ${ids.length} through slots: more than one pool's worth`);
      await expectSpool(spool, []);
    });

    test('round-trip latency with an instant handler', async (t) => {
      const instant = join(await fresh('instant'), 'spool');
      const fast = await startSpoolServer({ dir: instant, handler: async () => ({ exitCode: 0 }) });
      const empty = join(work, 'empty-script');
      await writeFile(empty, '');
      try {
        const calls: number[] = [];
        const starts: number[] = [];
        for (let i = 0; i < 100; i++) {
          const r = await runClient(shell, ['wal-push', 'pg_wal/000000010000000000000003'], { spool: instant, cwd: work });
          assert.equal(r.code, 0, r.stderr);
          calls.push(r.ms);
          starts.push((await runClient(shell, [], { cwd: work, script: empty })).ms);
        }
        calls.sort((a, b) => a - b);
        starts.sort((a, b) => a - b);
        const median = percentile(calls, 50);
        t.diagnostic(
          `${shell.name}: wal-push round trip median ${median.toFixed(1)} ms, p99 ${percentile(calls, 99).toFixed(1)} ms over 100 calls` +
            ` (starting the shell on an empty script: median ${percentile(starts, 50).toFixed(1)} ms)`,
        );
        assert.ok(median < 50, `median ${median} ms`);
      } finally {
        await fast.close();
      }
    });
  });
}

describe('spool server', () => {
  let dash: Shell;
  let work: string;
  before(async () => {
    dash = shells.find((s) => s.name === 'dash')!;
    work = await fresh('server-work');
  });

  test('serves requests that were waiting before it started, and requests a dead agent had claimed', async () => {
    const spool = join(await fresh('late'), 'spool');
    await (await startSpoolServer({ dir: spool, handler: scriptedHandler().handler })).close();
    const waiting = [0, 1, 2].map((i) => runClient(dash, ['wal-fetch', `00000001000000000000000${i}`, `/restore/${i}`], { spool, cwd: work }));
    await waitFor('three queued requests', async () => (await readdir(join(spool, 'req'))).filter((n) => n.endsWith('.req')).length === 3);
    await writeFile(join(spool, 'req', '99999.work'), 'wal-fetch\n000000010000000000000009\n/restore/9\n\n');

    const scripted = scriptedHandler();
    const server = await startSpoolServer({ dir: spool, handler: scripted.handler });
    try {
      const runs = await Promise.all(waiting);
      for (const r of runs) assert.equal(r.code, 74, r.stderr);
      await waitFor('the orphan served', async () => scripted.requests.length === 4);
      assert.deepEqual(scripted.requests.map((r) => r.args[1]).sort(), ['/restore/0', '/restore/1', '/restore/2', '/restore/9']);
      await expectSpool(spool, [], 'nobody waits for the orphan: its answer has no channel and nothing is left behind');
    } finally {
      await server.close();
    }
  });

  test('answers malformed requests with 64 and bad handler answers with 70', async () => {
    const spool = join(await fresh('malformed'), 'spool');
    const scripted = scriptedHandler();
    const server = await startSpoolServer({
      dir: spool,
      handler: async (req) => (req.op === 'odd' ? { exitCode: 300 } : scripted.handler(req)),
    });
    try {
      // Ids spelled like a client's own (a token would name a slot).
      const cases: Record<string, string | Buffer> = {
        '1.1': '',
        '1.2': 'wal-push\n/x\n',
        '1.3': '\n/x\n\n',
        '1.4': 'wal-push\n\n\n',
        '1.5': Buffer.from([0x77, 0xff, 0xfe, 0x0a, 0x0a]),
        '1.6': 'odd\n\n',
      };
      const answers = Object.fromEntries(
        await Promise.all(Object.entries(cases).map(async ([id, content]) => [id, await rawRequest(spool, id, content)] as const)),
      );
      for (const id of ['1.1', '1.2', '1.3', '1.4', '1.5']) {
        assert.match(answers[id]!, new RegExp(`^64\\n1\\nwalship: USAGE: malformed walship spool request ${id.replace('.', '\\.')}: .+\\n$`));
      }
      assert.match(answers['1.2']!, /incomplete request/);
      assert.equal(answers['1.6'], '70\n1\nwalship: INTERNAL: the request handler answered with an invalid exit code 300\n');
      assert.equal(scripted.requests.length, 0);
    } finally {
      await server.close();
    }
  });

  test('close() stops taking requests and waits for the ones in flight', async () => {
    const spool = join(await fresh('closing'), 'spool');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const handler: SpoolHandler = async () => {
      started++;
      await released;
      return { exitCode: 0, message: 'finished' };
    };
    const server = await startSpoolServer({ dir: spool, handler });
    const inFlight = runClient(dash, ['wal-push', '/pg/1'], { spool, cwd: work });
    await waitFor('the handler to start', async () => started === 1);
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await sleep(150);
    assert.equal(closed, false, 'close() must wait for the request in flight');
    const late = await runClient(dash, ['wal-push', '/pg/2'], { spool, cwd: work, env: { WALSHIP_CLIENT_PICKUP_TIMEOUT: '1' } });
    assert.equal(late.code, 69, 'a closing server takes no new request');
    release();
    await closing;
    const r = await inFlight;
    assert.equal(r.code, 0);
    assert.equal(r.stderr, 'finished\n');
    assert.equal(started, 1);
  });

  test('runs as a command of its own, as archive_command calls it', async () => {
    const spool = join(await fresh('direct'), 'spool');
    const server = await startSpoolServer({ dir: spool, handler: async (req) => ({ exitCode: 0, message: req.op }) });
    try {
      const direct: Shell = { ...dash, name: 'the #! line', argv: [] };
      const r = await runClient(direct, ['wal-push', '/pg/z'], { spool, cwd: work });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, 'wal-push\n');
    } finally {
      await server.close();
    }
  });

  test('leaves no watchdog behind: every sleep it starts is gone when it exits', async () => {
    // Orphans would be reparented to PID 1, the postmaster in the stock postgres image.
    const spool = join(await fresh('watchdog'), 'spool');
    const bin = await fresh('watchdog-bin');
    const pids = join(bin, 'pids');
    for (const cmd of ['mkfifo', 'rm']) await symlink(`/bin/${cmd}`, join(bin, cmd));
    await writeFile(join(bin, 'sleep'), `#!/bin/sh\necho $$ >> ${pids}\nexec /bin/sleep "$@"\n`, { mode: 0o755 });
    const server = await startSpoolServer({ dir: spool, handler: async () => (await sleep(50), { exitCode: 0, message: 'served' }) });
    try {
      const served = await runClient({ ...dash, path: bin }, ['wal-push', '/pg/y'], { spool, cwd: work });
      assert.equal(served.code, 0, served.stderr);
      assert.equal(served.stderr, 'served\n');
      await server.close();
      const unserved = await runClient({ ...dash, path: bin }, ['wal-push', '/pg/z'], { spool, cwd: work, env: { WALSHIP_CLIENT_PICKUP_TIMEOUT: '1' } });
      assert.equal(unserved.code, 69, unserved.stderr);
      const started = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
      assert.ok(started.length >= 2, `watchdogs started: ${started.join(' ')}`);
      for (const pid of started) assert.equal(await exists(join('/proc', String(pid))), false, `watchdog ${pid} outlived its client`);
      await expectSpool(spool, []);
    } finally {
      await server.close();
    }
  });

  test('reads a request that is still being written once it is complete', async () => {
    const spool = join(await fresh('half'), 'spool');
    const scripted = scriptedHandler();
    const server = await startSpoolServer({ dir: spool, handler: scripted.handler });
    try {
      const answer = rawRequest(spool, '4242', 'wal-fetch\n0000000100000000000000AB\n');
      await sleep(300);
      assert.equal(scripted.requests.length, 0, 'served before it was complete');
      assert.deepEqual(await spoolContents(spool), ['req/4242.req', 'resp/4242'], 'claimed before it was complete');
      await writeFile(join(spool, 'req', '4242.req'), '/restore/half\n\n', { flag: 'a' });
      assert.equal(await answer, '74\n1\nwalship: 0000000100000000000000AB is not in the archive\n');
      assert.deepEqual(scripted.requests.at(-1)?.args, ['0000000100000000000000AB', '/restore/half']);
    } finally {
      await server.close();
    }
  });

  test('sweeps abandoned answers and temp files at start-up, and keeps fresh ones', async () => {
    const spool = join(await fresh('sweep'), 'spool');
    await (await startSpoolServer({ dir: spool, handler: scriptedHandler().handler })).close();
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const name of ['req/.old.tmp', 'resp/old', 'resp/.old.abc.tmp', 'req/.fresh.tmp', 'resp/fresh']) {
      await writeFile(join(spool, name), '0\n');
      if (name.includes('old')) await utimes(join(spool, name), hourAgo, hourAgo);
    }
    await (await startSpoolServer({ dir: spool, handler: scriptedHandler().handler })).close();
    assert.deepEqual(await spoolContents(spool), ['req/.fresh.tmp', 'resp/fresh']);
  });

  test('sweeps what dead clients left of answer slots, and keeps the pool and the slots in use', async () => {
    const spool = join(await fresh('sweep-slots'), 'spool');
    await (await startSpoolServer({ dir: spool, handler: scriptedHandler().handler })).close();
    const pool = await poolSlots(spool);
    assert.equal(pool.length, SLOT_POOL_SIZE);
    const at = (name: string) => join(spool, name);
    const age = (name: string, ms: number) => utimes(at(name), new Date(Date.now() - ms), new Date(Date.now() - ms));
    const hour = 3600_000;
    execFileSync('mkfifo', ['died', 'queued', 'serving', 'fresh', 'old'].map((t) => at(`resp/s${t}.slot`)));
    for (const t of ['died', 'queued', 'serving', 'fresh']) await writeFile(at(`resp/s${t}.claim`), '');
    for (const t of ['died', 'queued', 'serving']) await age(`resp/s${t}.claim`, hour);
    await writeFile(at('req/squeued.req'), 'wal-push\n/pg/q\n\n');
    await writeFile(at('req/sserving.work'), 'wal-push\n/pg/s\n\n');
    await age('resp/sold.slot', 24 * hour);
    for (const t of ['lost', 'justlost']) await writeFile(at(`resp/s${t}.claim`), '');
    await age('resp/slost.claim', 5 * 60_000);
    for (const t of ['plain', 'plainnew']) await writeFile(at(`resp/s${t}.slot`), '0\n0\n');
    await age('resp/splain.slot', hour);

    await sweepStale(spoolLayout(spool), 30 * 60_000, (err) => assert.fail(err as Error));
    assert.deepEqual(
      await spoolNames(spool),
      [
        ...pool.map((t) => `resp/${t}.slot`),
        // the pool, however old
        'resp/sold.slot',
        // claimed, and the request is queued, being served, or about to be written
        'req/squeued.req',
        'req/sserving.work',
        'resp/squeued.slot',
        'resp/squeued.claim',
        'resp/sserving.slot',
        'resp/sserving.claim',
        'resp/sfresh.slot',
        'resp/sfresh.claim',
        // a claim without its FIFO is dead, but given a minute
        'resp/sjustlost.claim',
        // a plain file where a slot was, until it is stale
        'resp/splainnew.slot',
      ].sort(),
      'gone: sdied (claimed an hour ago, no request), slost (claim without a FIFO), splain (an old plain file)',
    );
  });

  test('a restarted agent answers through slots it did not make, and serves no request naming a slot nobody claimed', async () => {
    const spool = join(await fresh('restart-slots'), 'spool');
    await (await startSpoolServer({ dir: spool, handler: scriptedHandler().handler })).close();
    const [waiting, notClaimed, alsoNot] = (await poolSlots(spool)) as [string, string, string];
    // A client holds the first slot and waits on it; a dead agent had taken its request.
    await writeFile(join(spool, 'resp', `${waiting}.claim`), '', { flag: 'wx' });
    const channel = await open(join(spool, 'resp', `${waiting}.slot`), constants.O_RDWR);
    try {
      await writeFile(join(spool, 'req', `${waiting}.work`), 'wal-fetch\n00000001000000000000000B\n/restore/b\n\n');
      await writeFile(join(spool, 'req', `${notClaimed}.work`), 'wal-fetch\n00000001000000000000000C\n/restore/c\n\n');
      await writeFile(join(spool, 'req', `${alsoNot}.req`), 'wal-fetch\n00000001000000000000000D\n/restore/d\n\n');
      const scripted = scriptedHandler();
      const errors: Error[] = [];
      const server = await startSpoolServer({ dir: spool, handler: scripted.handler, onError: (err) => errors.push(err as Error) });
      try {
        assert.equal(await readAnswer(channel), '74\n1\nwalship: 00000001000000000000000B is not in the archive\n');
        await expectSpool(spool, [], 'the slot retired, the unclaimed requests removed');
        assert.deepEqual(scripted.requests.map((r) => r.id), [waiting]);
        assert.deepEqual(errors.map((e) => /^spool request (\w+) names the answer slot \1, which no client holds .*removed unserved$/.exec(e.message)?.[1]).sort(), [notClaimed, alsoNot].sort());
        const pool = await poolSlots(spool);
        assert.ok(pool.includes(notClaimed) && pool.includes(alsoNot) && !pool.includes(waiting), 'unclaimed slots stay in the pool');
      } finally {
        await server.close();
      }
    } finally {
      await channel.close();
    }
  });

  const asRoot = process.getuid?.() === 0;
  test('a postgres client talks to a root agent through a spool owned by postgres', { skip: !asRoot && 'needs root (runuser)' }, async () => {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    // Like the pod: the client copied into a shared directory, its spool beside it.
    const shared = await mkdtemp(join(tmpdir(), 'walship-spool-pg-'));
    try {
      await chmod(shared, 0o755);
      const script = join(shared, 'walship-client');
      await copyFile(CLIENT, script);
      await chmod(script, 0o755);
      const pgShells = await clientShells(join(shared, 'shells'));
      const pgdata = join(shared, 'pgdata');
      await mkdir(join(pgdata, 'pg_wal'), { recursive: true });
      for (const dir of [pgdata, join(pgdata, 'pg_wal')]) await chown(dir, uid, gid);
      await writeFile(join(pgdata, 'pg_wal', '000000010000000000000004'), 'segment four', { mode: 0o600 });
      await chown(join(pgdata, 'pg_wal', '000000010000000000000004'), uid, gid);

      const scripted = scriptedHandler();
      const server = await startSpoolServer({ dir: join(shared, 'spool'), handler: scripted.handler, owner: { uid, gid } });
      try {
        for (const shell of pgShells) {
          const r = await runClient(shell, ['wal-push', 'pg_wal/000000010000000000000004'], { cwd: pgdata, script, user: 'postgres' });
          assert.equal(r.code, 0, `${shell.name}: ${r.stderr}`);
          const missing = await runClient(shell, ['wal-fetch', '0000000100000000000000AA', 'pg_wal/RECOVERYXLOG'], { cwd: pgdata, script, user: 'postgres' });
          assert.equal(missing.code, 74, `${shell.name}: ${missing.stderr}`);
        }
        assert.equal(scripted.archive.get('000000010000000000000004')?.toString(), 'segment four');
        assert.ok(scripted.requests.some((r) => isSlotToken(r.id)), 'the clients took slots root made');
        assert.deepEqual(await spoolContents(join(shared, 'spool')), [], 'postgres removed the answers root wrote');
        const pool = await poolSlots(join(shared, 'spool'));
        assert.ok(pool.length >= SLOT_POOL_LOW);
        for (const token of pool) {
          const st = await stat(join(shared, 'spool', 'resp', `${token}.slot`));
          assert.deepEqual([st.isFIFO(), st.uid, st.gid, st.mode & 0o7777], [true, uid, gid, 0o660], `slot ${token}`);
        }
        for (const dir of ['spool', 'spool/req', 'spool/resp']) {
          const st = await stat(join(shared, dir));
          assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [uid, gid, 0o2770], dir);
        }
      } finally {
        await server.close();
      }
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });
});
