import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { postgresOwnedDir } from '../support/pg-cluster.ts';
import { switchWal, waitArchived } from '../support/wal-helpers.ts';
import { getText, startPod, waitUntil, type Pod } from './harness.ts';

// A changed Secret is mounted as new files in the envdir; SIGHUP makes the
// agent read it again. A change takes effect for the next segment; a broken
// configuration is refused and the running one kept.

describe('SIGHUP reloads the configuration from the envdir', () => {
  let pod: Pod | undefined;
  const dirs: string[] = [];
  after(async () => {
    await pod?.destroy();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('lz4 → zstd takes effect for the next segment; a broken config, or one that cannot start, is refused with a log line and the agent keeps archiving', { timeout: 120_000 }, async () => {
    const store = await postgresOwnedDir('walship-sighup-store-');
    const envdir = await mkdtemp(join(tmpdir(), 'walship-sighup-envdir-'));
    dirs.push(store, envdir);
    const setting = (value: string) => writeFile(join(envdir, 'WALG_COMPRESSION_METHOD'), value);
    await setting('lz4');
    await writeFile(join(envdir, 'WALG_FILE_PREFIX'), store);
    pod = await startPod({ WALSHIP_ENVDIR: envdir });
    const { cluster } = pod;
    const agent = () => pod!.agent;

    /** Switches WAL, waits until archived, and returns the stored object's name. */
    const archiveNext = async () => {
      await cluster.query('select txid_current()');
      const name = await switchWal(cluster);
      await waitArchived(cluster, name);
      const stored = (await readdir(join(store, 'wal_005'))).filter((n) => n.startsWith(name) && !n.startsWith('.'));
      assert.equal(stored.length, 1, `one object for ${name}: ${stored.join(', ')}`);
      return stored[0]!;
    };
    const logged = (pattern: RegExp) => agent().logs().filter((l) => pattern.test(String(l.msg))).length;

    assert.match(await archiveNext(), /^[0-9A-F]{24}\.lz4$/);

    await setting('zstd');
    agent().child.kill('SIGHUP');
    await waitUntil('the reload', async () => logged(/^configuration reloaded$/) === 1);
    assert.match(await archiveNext(), /^[0-9A-F]{24}\.zst$/, 'the next segment uses the new compression');

    await setting('snappy');
    agent().child.kill('SIGHUP');
    await waitUntil('the refusal', async () => logged(/^reload refused, keeping the running configuration/) === 1);
    const refusal = agent().logs().find((l) => /^reload refused/.test(String(l.msg)))!;
    assert.equal(refusal.level, 'error');
    assert.match(String(refusal.msg), /WALG_COMPRESSION_METHOD/, 'the log line names the setting');
    assert.equal(refusal.code, 'CONFIG_INVALID');
    assert.equal(logged(/^configuration reloaded$/), 1, 'no second reload happened');

    assert.equal(agent().child.exitCode, null, 'the agent is still running');
    assert.equal((await getText(`${agent().httpUrl}/healthz`)).status, 200);
    assert.match(await archiveNext(), /^[0-9A-F]{24}\.zst$/, 'archiving goes on with the running configuration');

    // A configuration that loads but cannot start: an armored key that does not parse.
    await setting('zstd');
    await writeFile(join(envdir, 'WALG_PGP_KEY'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n');
    agent().child.kill('SIGHUP');
    await waitUntil('the second refusal', async () => logged(/^reload refused, keeping the running configuration/) === 2);
    const failedStart = agent().logs().filter((l) => /^reload refused/.test(String(l.msg)))[1]!;
    assert.equal(failedStart.code, 'CRYPTO_KEY_INVALID');
    assert.match(String(failedStart.msg), /failed to start/);
    assert.equal(agent().child.exitCode, null, 'the agent is still running');
    assert.match(await archiveNext(), /^[0-9A-F]{24}\.zst$/, 'and archiving, unencrypted, as before');
    assert.equal(logged(/^configuration reloaded$/), 1);
  });
});
