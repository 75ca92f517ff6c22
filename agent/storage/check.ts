import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { WalshipError } from '../errors.ts';
import type { StorageDriver } from './driver.ts';

// Proves access the way the archive will use it: a write check writes,
// reads back, compares and deletes a probe, so a key that may write but not
// read (or the reverse) is caught before the first WAL segment needs it.

const PROBE_PREFIX = 'walship-check';

export async function checkStore(driver: StorageDriver, mode: 'read' | 'write'): Promise<string> {
  const started = Date.now();
  const page = await driver.listPage('', { pageSize: 1 });
  if (mode === 'read') {
    const what = page.objects.length === 0 ? 'the store is empty' : `first object ${page.objects[0]!.key}`;
    return `OK: read access to ${driver.location} (listed; ${what}) in ${Date.now() - started} ms`;
  }
  const key = `${PROBE_PREFIX}/${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const payload = randomBytes(1024);
  await driver.put(key, () => Readable.from([payload]), { metadata: { 'walship-probe': 'true' }, contentLength: payload.length });
  try {
    const { body } = await driver.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    if (!Buffer.concat(chunks).equals(payload)) {
      throw new WalshipError('STORE_REQUEST_FAILED', `check write ${driver.location}: the probe object read back differs from what was written`);
    }
  } finally {
    await driver.deleteMany([key]);
  }
  return `OK: write access to ${driver.location} (wrote, read back and deleted ${key}) in ${Date.now() - started} ms`;
}
