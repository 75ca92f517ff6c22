import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { WALSHIP_BIN, collectCli, runWalship, type CliResult } from '../support/cli.ts';
import { describeCli, pgEnv, startArchivingSource } from '../support/backup-harness.ts';
import { filesystemStore, type BackupStore } from '../support/backup-stores.ts';
import { PgCluster, spawnAsPostgres } from '../support/pg-cluster.ts';
import { checkArchiveSettings } from '../../agent/check/archive-settings.ts';
import { loadConfig } from '../../agent/config/load.ts';
import { isWalshipError } from '../../agent/errors.ts';

// `walship check` against real PostgreSQL 15 and a filesystem store: it
// passes on a correct setup and stops at the first failing step, naming the
// cause, for each way the chain can be broken.

interface Report {
  ok: boolean;
  steps: { step: string; status: string; detail: string; code?: string }[];
}

function report(r: CliResult): Report {
  return JSON.parse(r.stdout) as Report;
}

/** Runs walship as the postgres user, as a sidecar runs without root: root would write through any mode. */
function runWalshipAsPostgres(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return collectCli(spawnAsPostgres(process.execPath, [WALSHIP_BIN, ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }));
}

describe('walship check', () => {
  const clusters: PgCluster[] = [];
  const stores: BackupStore[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const c of clusters) await c.destroy();
    for (const s of stores) await s.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('passes on a correct setup, step by step, and the switched segment is in the store', { timeout: 120_000 }, async () => {
    const store = await filesystemStore.start('');
    stores.push(store);
    const source = await startArchivingSource(store.env);
    clusters.push(source);
    const r = await runWalship(['check'], { ...pgEnv(source), ...store.env });
    assert.equal(r.code, 0, describeCli(r));
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(':')[0]!.replace(/\s+/g, ' ')), ['ok config', 'ok store', 'ok postgres', 'ok archive-settings', 'ok wal-switch']);
    const segment = /(\w{24}) reached the store as (\S+)/.exec(r.stdout);
    assert.ok(segment, r.stdout);
    const ls = await runWalship(['st', 'ls', 'wal_005/'], store.env);
    assert.ok(ls.stdout.includes(segment[2]!), `${segment[2]} is listed in the store:\n${ls.stdout}`);

    const json = await runWalship(['check', '--json', '--no-switch'], { ...pgEnv(source), ...store.env });
    assert.equal(json.code, 0, describeCli(json));
    const parsed = report(json);
    assert.equal(parsed.ok, true);
    assert.deepEqual(parsed.steps.map((s) => [s.step, s.status]), [['config', 'ok'], ['store', 'ok'], ['postgres', 'ok'], ['archive-settings', 'ok'], ['wal-switch', 'skipped']]);
  });

  test('fails at archive-settings with archive_mode off', { timeout: 120_000 }, async () => {
    const store = await filesystemStore.start('');
    stores.push(store);
    const off = await startArchivingSource(store.env, { conf: { archive_mode: 'off' } });
    clusters.push(off);
    const r = await runWalship(['check', '--json'], { ...pgEnv(off), ...store.env });
    assert.equal(r.code, 78, describeCli(r));
    const last = report(r).steps.at(-1)!;
    assert.equal(last.step, 'archive-settings');
    assert.equal(last.code, 'ARCHIVE_MISCONFIGURED');
    assert.match(last.detail, /archive_mode is off/);
    assert.match(r.stderr, /ARCHIVE_MISCONFIGURED: check failed at archive-settings: archive_mode is off/);
  });

  test('fails with an archive_command that does not run walship, and with one that stores into another place', { timeout: 120_000 }, async () => {
    const store = await filesystemStore.start('');
    const other = await filesystemStore.start('');
    stores.push(store, other);
    const source = await startArchivingSource(store.env);
    clusters.push(source);

    // The server archives into `store`; the check is configured for `other`.
    const elsewhere = await runWalship(['check'], { ...pgEnv(source), ...other.env, WALSHIP_CHECK_WAL_TIMEOUT: '3s' });
    assert.equal(elsewhere.code, 75, describeCli(elsewhere));
    assert.match(elsewhere.stdout, /^ok\s+archive-settings/m);
    assert.match(elsewhere.stdout, /^FAILED\s+wal-switch: \w{24}, finished by pg_switch_wal\(\), did not reach the store within 3000 ms: PostgreSQL reports it archived .*, but it is not in /m);
    assert.match(elsewhere.stderr, /ARCHIVE_CHECK_TIMEOUT/);

    const cpDir = await mkdtemp(join(tmpdir(), 'walship-check-cp-'));
    dirs.push(cpDir);
    await source.query(`alter system set archive_command = 'test ! -f ${cpDir}/%f'`);
    await source.query('select pg_reload_conf()');
    const cp = await runWalship(['check'], { ...pgEnv(source), ...store.env });
    assert.equal(cp.code, 78, describeCli(cp));
    assert.match(cp.stdout, /^FAILED\s+archive-settings: archive_command is "test ! -f .*%f": it does not run walship wal-push %p/m);
    assert.doesNotMatch(cp.stdout, /wal-switch/, 'the check stops at the first failure');
  });

  test('fails at store with a read-only store', { timeout: 120_000 }, async () => {
    const store = await filesystemStore.start('');
    stores.push(store);
    const source = await startArchivingSource(store.env);
    clusters.push(source);
    const readOnly = await mkdtemp(join(tmpdir(), 'walship-check-ro-'));
    dirs.push(readOnly);
    await chmod(readOnly, 0o555);
    const r = await runWalshipAsPostgres(['check', '--json'], { ...pgEnv(source), WALG_FILE_PREFIX: readOnly });
    assert.notEqual(r.code, 0, describeCli(r));
    const steps = report(r).steps;
    assert.deepEqual(steps.map((s) => [s.step, s.status]), [['config', 'ok'], ['store', 'failed']]);
    assert.match(steps[1]!.detail, /EACCES|permission denied/i, steps[1]!.detail);
  });

  test('fails at postgres with a PostgreSQL it cannot reach', { timeout: 60_000 }, async () => {
    const store = await filesystemStore.start('');
    stores.push(store);
    const r = await runWalship(['check'], { ...store.env, PGHOST: '/nonexistent-socket-dir', PGPORT: '5999', PGUSER: 'postgres' });
    assert.equal(r.code, 69, describeCli(r));
    assert.match(r.stdout, /^ok\s+store/m);
    assert.match(r.stdout, /^FAILED\s+postgres: cannot connect to PostgreSQL at \/nonexistent-socket-dir:5999/m);
    assert.match(r.stderr, /PG_UNREACHABLE/);
  });
});

describe('what walship check and wal-verify refuse', () => {
  const settings = (archiveCommand: string, archiveMode = 'on') => ({ archiveMode, archiveCommand, archiveLibrary: '', inRecovery: false });

  test('archive_command forms that run walship pass; others name the setting', () => {
    for (const ok of ["walship wal-push %p", "/walship/walship-client wal-push %p", "'/usr/bin/node' '/opt/walship/bin/walship' wal-push %p", 'walship --log-level debug wal-push "%p"']) {
      assert.match(checkArchiveSettings(settings(ok)), /^archive_mode = on/, ok);
    }
    const refused = (s: ReturnType<typeof settings>, pattern: RegExp) =>
      assert.throws(() => checkArchiveSettings(s), (err) => isWalshipError(err, 'ARCHIVE_MISCONFIGURED') && pattern.test(err.message));
    refused(settings('wal-g wal-push %p'), /archive_command is "wal-g wal-push %p": it does not run walship wal-push %p/);
    refused(settings('walship wal-fetch %f %p'), /does not run walship wal-push %p/);
    refused(settings(''), /archive_command is empty/);
    refused(settings('walship wal-push %p', 'off'), /archive_mode is off/);
    refused({ ...settings('walship wal-push %p'), archiveLibrary: 'basic_archive' }, /archive_library is "basic_archive": PostgreSQL then ignores archive_command/);
  });

  test('bad settings and arguments are errors naming them', async () => {
    await assert.rejects(loadConfig({ env: { WALSHIP_CHECK_WAL_TIMEOUT: 'soon' } }), (err) => isWalshipError(err, 'CONFIG_INVALID') && /WALSHIP_CHECK_WAL_TIMEOUT \(from environment\): expected a duration/.test(err.message));
    await assert.rejects(loadConfig({ env: { WALSHIP_WAL_VERIFY_INTERVAL: 'sometimes' } }), (err) => isWalshipError(err, 'CONFIG_INVALID') && /WALSHIP_WAL_VERIFY_INTERVAL \(from environment\): expected a duration such as 30s, 10m or 1h, or 'off', got "sometimes"/.test(err.message));
    await assert.rejects(loadConfig({ env: { WALSHIP_WAL_VERIFY_INTERVAL: '100ms' } }), (err) => isWalshipError(err, 'CONFIG_INVALID') && /WALSHIP_WAL_VERIFY_INTERVAL.*between 1000 ms/.test(err.message));
    assert.equal((await loadConfig({ env: { WALSHIP_WAL_VERIFY_INTERVAL: 'off' } })).config.agent.walVerifyIntervalMs, 0);
    assert.equal((await loadConfig({ env: {} })).config.agent.checkWalTimeoutMs, 60_000);
    const unknown = await runWalship(['wal-verify', 'integrity', 'everything']);
    assert.equal(unknown.code, 64, describeCli(unknown));
    assert.match(unknown.stderr, /'everything' is invalid for argument 'checks'\. Allowed choices are integrity, timeline/);
    const none = await runWalship(['wal-verify']);
    assert.equal(none.code, 64);
    assert.match(none.stderr, /missing required argument 'checks'/);
    const noStore = await runWalship(['check']);
    assert.equal(noStore.code, 78);
    assert.match(noStore.stderr, /CONFIG_MISSING: no store configured/);
  });
});
