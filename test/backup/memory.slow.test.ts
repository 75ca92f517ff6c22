import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WALSHIP_BIN, type CliResult } from '../support/cli.ts';
import { PgCluster, postgresOwnedDir } from '../support/pg-cluster.ts';
import { archiveAll, describeCli, fingerprint, pgEnv, restoreRoot, startPromoted, backupTestResources } from '../support/backup-harness.ts';
import { filesystemStore } from '../support/backup-stores.ts';

// A ~2 GB database backed up and restored, every walship process measured
// by GNU time: backup-push, backup-fetch, and each wal-push and wal-fetch
// PostgreSQL ran. Peak RSS must stay under 300 MB whatever the database size.

const TIME = '/usr/bin/time';
const LIMIT_KIB = 300 * 1024;

/** Runs walship under GNU time; returns its result and its peak RSS in KiB. */
async function measured(args: readonly string[], env: Record<string, string>, rssFile: string): Promise<CliResult & { peakKiB: number }> {
  const result = await new Promise<CliResult>((resolve, reject) => {
    const child = spawn(TIME, ['-o', rssFile, '-f', '%M', process.execPath, WALSHIP_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const lines = (await readFile(rssFile, 'utf8')).trim().split('\n');
  return { ...result, peakKiB: Number(lines.at(-1)) };
}

/** archive_command / restore_command under GNU time, appending "<KiB> <command>" lines to logFile. */
function measuredCommand(command: string, logFile: string): string {
  return `${TIME} -a -o '${logFile}' -f '%M ${command.split(' ')[0]}' '${process.execPath}' '${WALSHIP_BIN}' ${command}`;
}

async function commandPeaks(logFile: string): Promise<{ command: string; kib: number }[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return [...text.matchAll(/^(\d+) (wal-push|wal-fetch)$/gm)].map((m) => ({ command: m[2]!, kib: Number(m[1]) }));
}

const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

describe('memory of backup-push and backup-fetch on a 2 GB database', () => {
  const resources = backupTestResources();
  const { clusters, dirs } = resources;

  test('every walship process stays under 300 MB peak RSS', { timeout: 420_000 }, async (t) => {
    const store = (resources.store = await filesystemStore.start(''));
    const logs = await postgresOwnedDir('walship-rss-');
    dirs.push(logs);
    const archiveLog = join(logs, 'archive.rss');
    const restoreLog = join(logs, 'restore.rss');
    const rssFile = join(logs, 'cli.rss');

    // The data is generated with wal_level = minimal, which writes no WAL for
    // it; archiving starts afterwards. 2 GB of WAL to archive would only slow the test.
    const source = await PgCluster.create({ conf: { wal_level: 'minimal', max_wal_senders: 0, archive_mode: 'off', max_wal_size: '1GB', shared_buffers: '128MB' } });
    clusters.push(source);
    await source.start();
    let started = Date.now();
    await source.pgbench(['-i', '-s', '150', '-I', 'dtG', '-q']);
    await source.query('alter table pgbench_accounts add primary key (aid)');
    t.diagnostic(`generated in ${Date.now() - started} ms`);
    await source.stop();
    await source.setConf({ wal_level: 'replica', max_wal_senders: 4, archive_mode: 'on', archive_command: measuredCommand('wal-push %p', archiveLog), archive_timeout: 0 });
    Object.assign(source.env, store.env);
    await source.start();
    const [{ size }] = (await source.query<{ size: string }>('select pg_database_size(current_database())::text as size')) as [{ size: string }];
    assert.ok(Number(size) > 1.9e9, `database is ${size} bytes`);
    await source.query('update pgbench_branches set bbalance = bbalance + bid; update pgbench_accounts set abalance = 11 where aid % 100000 = 0');

    started = Date.now();
    const push = await measured(['backup-push'], { ...pgEnv(source), ...store.env }, rssFile);
    assert.equal(push.code, 0, describeCli(push));
    t.diagnostic(`backup-push: ${Date.now() - started} ms, peak RSS ${mib(push.peakKiB)}; ${push.stdout.trim()}`);

    await source.query('update pgbench_tellers set tbalance = tbalance + tid');
    const expected = await fingerprint(source, ['pgbench_branches', 'pgbench_tellers']);
    const [{ accounts }] = (await source.query<{ accounts: string }>('select count(*)::text || \':\' || sum(abalance)::text as accounts from pgbench_accounts')) as [{ accounts: string }];
    await archiveAll(source);
    await source.stop();

    const where = await restoreRoot();
    dirs.push(where.root);
    started = Date.now();
    const fetch = await measured(['backup-fetch', where.dataDir, 'LATEST', '--restore-command', measuredCommand('wal-fetch %f %p', restoreLog)], store.env, rssFile);
    assert.equal(fetch.code, 0, describeCli(fetch));
    t.diagnostic(`backup-fetch: ${Date.now() - started} ms, peak RSS ${mib(fetch.peakKiB)}; ${fetch.stdout.trim()}`);

    const restored = await PgCluster.adopt(where.root, where.dataDir, { conf: { archive_mode: 'off' }, env: store.env });
    clusters.push(restored);
    await startPromoted(restored);
    assert.deepEqual(await fingerprint(restored, ['pgbench_branches', 'pgbench_tellers']), expected);
    const [{ accounts: restoredAccounts }] = (await restored.query<{ accounts: string }>('select count(*)::text || \':\' || sum(abalance)::text as accounts from pgbench_accounts')) as [{ accounts: string }];
    assert.equal(restoredAccounts, accounts);
    await restored.stop();
    await rm(where.dataDir, { recursive: true, force: true });

    const walPeaks = [...(await commandPeaks(archiveLog)), ...(await commandPeaks(restoreLog))];
    assert.ok(walPeaks.some((p) => p.command === 'wal-push') && walPeaks.some((p) => p.command === 'wal-fetch'), `measured wal-push and wal-fetch: ${JSON.stringify(walPeaks)}`);
    const worstWal = Math.max(...walPeaks.map((p) => p.kib));
    t.diagnostic(`${walPeaks.length} wal-push/wal-fetch runs, worst peak RSS ${mib(worstWal)}`);

    assert.ok(push.peakKiB < LIMIT_KIB, `backup-push peak RSS ${mib(push.peakKiB)}`);
    assert.ok(fetch.peakKiB < LIMIT_KIB, `backup-fetch peak RSS ${mib(fetch.peakKiB)}`);
    assert.ok(worstWal < LIMIT_KIB, `wal-push/wal-fetch peak RSS ${mib(worstWal)}`);
  });
});
