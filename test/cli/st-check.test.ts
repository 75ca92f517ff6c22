import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { StoreConfig } from '../../agent/config/types.ts';
import { startAzurite } from '../support/azurite.ts';
import { startBlackhole } from '../support/blackhole.ts';
import { runWalship } from '../support/cli.ts';
import { startGcsHarness } from '../support/gcs-harness.ts';
import { freePort } from '../support/ports.ts';
import { startS3rver } from '../support/s3rver.ts';
import { storeEnv } from '../support/store-env.ts';

// `walship st check write`, the first command a user runs with a new Secret,
// against each real store: a clear success, or a clear error naming the cause.

interface CheckTarget {
  name: string;
  start(): Promise<{ good: StoreConfig; badCredentials: StoreConfig; at(endpoint: string): StoreConfig; stop(): Promise<void> }>;
}

const targets: CheckTarget[] = [
  {
    name: 's3rver',
    async start() {
      const s3 = await startS3rver();
      return { good: s3.config('check'), badCredentials: s3.badCredentials('check'), at: (endpoint) => ({ ...s3.config('check'), endpoint }), stop: () => s3.stop() };
    },
  },
  {
    name: 'Azurite',
    async start() {
      const az = await startAzurite();
      return {
        good: az.config('check'),
        badCredentials: az.badCredentials('check'),
        at: (endpoint) => ({ ...az.config('check'), endpoint: `${endpoint}/devstoreaccount1` }),
        stop: () => az.stop(),
      };
    },
  },
  {
    name: 'GCS test server',
    async start() {
      const gcs = await startGcsHarness();
      return { good: gcs.config('check'), badCredentials: gcs.config('check', gcs.wrongKeyFile), at: (endpoint) => ({ ...gcs.config('check'), endpoint }), stop: () => gcs.stop() };
    },
  },
];

const fast = { WALSHIP_STORE_TIMEOUT: '1s', WALSHIP_STORE_IDLE_TIMEOUT: '1s', WALSHIP_STORE_ATTEMPTS: '2', WALSHIP_STORE_BACKOFF: '50ms' };

for (const target of targets) {
  describe(`st check against ${target.name}`, () => {
    const stops: (() => Promise<void>)[] = [];
    after(async () => {
      for (const stop of stops) await stop();
    });

    test('success, wrong credentials, a refused port and a hanging endpoint', { timeout: 120_000 }, async () => {
      const store = await target.start();
      stops.push(store.stop);

      for (const mode of ['read', 'write']) {
        const ok = await runWalship(['st', 'check', mode], storeEnv(store.good));
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stdout, new RegExp(`^OK: ${mode} access to `));
      }

      const bad = await runWalship(['st', 'check', 'write'], { ...storeEnv(store.badCredentials), ...fast });
      assert.equal(bad.code, 77, bad.stderr);
      assert.match(bad.stderr, /walship: STORE_AUTH: .*(credentials|key)/i);

      const closed = await runWalship(['st', 'check', 'write'], { ...storeEnv(store.at(`http://127.0.0.1:${await freePort()}`)), ...fast });
      assert.equal(closed.code, 69, closed.stderr);
      assert.match(closed.stderr, /walship: STORE_UNREACHABLE: .*unreachable \(ECONNREFUSED\)/);

      const hole = await startBlackhole();
      stops.push(hole.close);
      const started = Date.now();
      const hung = await runWalship(['st', 'check', 'write'], { ...storeEnv(store.at(hole.url)), ...fast });
      assert.equal(hung.code, 75, hung.stderr);
      assert.match(hung.stderr, /walship: STORE_TIMEOUT: .*(no answer|no progress) for 1000 ms/);
      assert.ok(Date.now() - started < 15_000, 'a hanging store gives up within its deadlines');
    });
  });
}
