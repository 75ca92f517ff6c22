import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { configurationReference } from '../../agent/config/reference.ts';

// The references generated from the code live between markers in their
// pages; `walship config reference` and `walship config metrics` print them.

async function generatedBlock(page: string, marker: string): Promise<string> {
  const text = await readFile(new URL(`../../docs/${page}`, import.meta.url), 'utf8');
  const m = new RegExp(`<!-- ${marker}:start[^>]*-->\\n([\\s\\S]*?)\\n<!-- ${marker}:end -->`).exec(text);
  assert.ok(m, `docs/${page} has the ${marker} markers`);
  return m[1]!;
}

test('docs/configuration.md holds the configuration reference the settings table makes', async () => {
  assert.equal(await generatedBlock('configuration.md', 'config-reference'), configurationReference(), 'docs/configuration.md is stale: paste the output of `walship config reference` between the markers');
});

test('docs/metrics.md holds the metrics reference the registry makes', async () => {
  const { metricsReference } = await import('../../agent/daemon/metrics-reference.ts');
  assert.equal(await generatedBlock('metrics.md', 'metrics-reference'), await metricsReference(), 'docs/metrics.md is stale: paste the output of `walship config metrics` between the markers');
});

test('the README carries no generated block: they moved to docs/', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  assert.doesNotMatch(readme, /<!-- (config|metrics)-reference:start/);
});
