import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { listAll } from '../../agent/storage/list.ts';
import { describeCli } from '../support/backup-harness.ts';
import { runWalship } from '../support/cli.ts';

// The CLI and the store side by side, as the retention tests drive them:
// run walship, require success, list every key, plant an object. `state`
// is read at each call, since the suites set up their store in before().

export function storeCli(state: () => { env: Record<string, string>; store: StorageDriver }) {
  const walship = (...args: string[]) => runWalship(args, state().env);
  const ok = async (...args: string[]) => {
    const r = await walship(...args);
    assert.equal(r.code, 0, describeCli(r));
    return r.stdout;
  };
  const keys = async () => {
    const out: string[] = [];
    for await (const o of listAll(state().store, '')) out.push(o.key);
    return out.sort();
  };
  const put = (key: string, text = key) => state().store.put(key, () => Readable.from([Buffer.from(text)]));
  return { walship, ok, keys, put };
}
