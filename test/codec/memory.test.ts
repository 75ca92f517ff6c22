import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';

const CHILD = fileURLToPath(new URL('../support/codec-memory-child.ts', import.meta.url));
const SIZE = 768 << 20;
/** The budget the brief sets for a sidecar; the codec itself needs a fraction of it. */
const MAX_RSS_MIB = 300;

test(`encode + decode of ${SIZE >> 20} MiB (lz4 + openpgp) stays under ${MAX_RSS_MIB} MiB RSS`, { timeout: 180_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [CHILD, String(SIZE)], { maxBuffer: 1 << 20 });
  const result = JSON.parse(stdout) as { bytes: number; same: boolean; maxRssMiB: number; seconds: number };
  assert.equal(result.bytes, SIZE);
  assert.ok(result.same, 'decoded bytes equal the input');
  assert.ok(result.maxRssMiB < MAX_RSS_MIB, `peak RSS ${result.maxRssMiB.toFixed(0)} MiB`);
  process.stdout.write(`# ${SIZE >> 20} MiB in ${result.seconds.toFixed(1)} s, peak RSS ${result.maxRssMiB.toFixed(0)} MiB\n`);
});
