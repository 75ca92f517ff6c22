// Rewrites the generated blocks of docs/ from the code: `npm run docs:generate`
// after changing a setting or a metric. test/docs/generated.test.ts fails
// until this (or a paste of `walship config reference|metrics`) is done.
import { readFile, writeFile } from 'node:fs/promises';
import { configurationReference } from '../../agent/config/reference.ts';
import { metricsReference } from '../../agent/daemon/metrics-reference.ts';

async function replaceBlock(page: string, marker: string, content: string): Promise<void> {
  const url = new URL(`../../docs/${page}`, import.meta.url);
  const text = await readFile(url, 'utf8');
  const re = new RegExp(`(<!-- ${marker}:start[^>]*-->\\n)[\\s\\S]*?(\\n<!-- ${marker}:end -->)`);
  if (!re.test(text)) throw new Error(`docs/${page} has no ${marker} markers`);
  await writeFile(url, text.replace(re, (_m, start: string, end: string) => `${start}${content}${end}`));
}

await replaceBlock('configuration.md', 'config-reference', configurationReference());
await replaceBlock('metrics.md', 'metrics-reference', await metricsReference());
