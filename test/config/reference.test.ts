import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { configurationReference } from '../../agent/config/reference.ts';

test("the README's configuration reference is the one the settings table makes", async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const m = /<!-- config-reference:start[^>]*-->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
  assert.ok(m, 'README has the config-reference markers');
  assert.equal(m[1], configurationReference(), 'README is stale: paste the output of `walship config reference` between the markers');
});

test("the README's metrics reference is the one the registry makes", async () => {
  const { metricsReference } = await import('../../agent/daemon/metrics-reference.ts');
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const m = /<!-- metrics-reference:start[^>]*-->\n([\s\S]*?)\n<!-- metrics-reference:end -->/.exec(readme);
  assert.ok(m, 'README has the metrics-reference markers');
  assert.equal(m[1], await metricsReference(), 'README is stale: paste the output of `walship config metrics` between the markers');
});
