import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { describe, test } from 'node:test';
import { catalogue } from '../../agent/errors.ts';
import { linkTargets } from '../support/markdown.ts';

// The README is the front door and docs/ holds one page a topic: every page
// says what it is for, every relative link lands, and the exit codes page
// lists the catalogue as it is.

const REPO = new URL('../..', import.meta.url).pathname;

async function pages(): Promise<{ path: string; text: string }[]> {
  const docs = (await readdir(join(REPO, 'docs'))).filter((f) => f.endsWith('.md')).sort();
  return Promise.all(['README.md', ...docs.map((f) => `docs/${f}`)].map(async (path) => ({ path, text: await readFile(join(REPO, path), 'utf8') })));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  const prose = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

describe('README and docs/', () => {
  test('the README is well under 10 KB and links every page in docs/', async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    assert.ok(Buffer.byteLength(readme) < 10_000, `README.md is ${Buffer.byteLength(readme)} bytes`);
    const linked = new Set(linkTargets(readme).map((t) => t.split('#')[0]));
    for (const f of (await readdir(join(REPO, 'docs'))).filter((f) => f.endsWith('.md'))) {
      assert.ok(linked.has(`docs/${f}`), `README.md does not link docs/${f}`);
    }
  });

  test('every page opens with one sentence saying what it is for', async () => {
    for (const { path, text } of await pages()) {
      const m = /^# .+\n\n([^\n]+)\n(\n|$)/.exec(text);
      assert.ok(m, `${path}: a title, then a one-line paragraph`);
      const first = m[1]!;
      assert.match(first, /\.$/, `${path}: the opening is a sentence`);
      assert.equal(first.replace(/e\.g\.|i\.e\.|\d\.\d|\.(md|ts|json|yaml)\b/g, '').split(/\. /).length, 1, `${path}: the opening is one sentence: ${first}`);
    }
  });

  test('every relative link resolves, anchors included', async () => {
    const all = await pages();
    const byPath = new Map(all.map((p) => [p.path, p.text]));
    let checked = 0;
    for (const { path, text } of all) {
      for (const target of linkTargets(text)) {
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file === '' ? path : normalize(join(dirname(path), file));
        assert.ok(!resolved.startsWith('..'), `${path}: ${target} leaves the repository`);
        assert.ok(existsSync(join(REPO, resolved)), `${path}: ${target}: no such file ${resolved}`);
        if (anchor !== undefined) {
          assert.ok((await stat(join(REPO, resolved))).isFile() && resolved.endsWith('.md'), `${path}: ${target}: an anchor into a non-Markdown file`);
          const targetText = byPath.get(resolved) ?? (await readFile(join(REPO, resolved), 'utf8'));
          assert.ok(anchors(targetText).has(anchor), `${path}: ${target}: ${resolved} has no heading #${anchor}`);
        }
        checked++;
      }
    }
    assert.ok(checked > 30, `only ${checked} links checked`);
  });

  test('the link check sees a broken link and a broken anchor', () => {
    assert.deepEqual(linkTargets('see [a](docs/nope.md#x) and `[b](c.md)`, and [d](https://e)'), ['docs/nope.md#x', 'https://e']);
    assert.ok(anchors('# Title\n## The executable and its Node.js\n').has('the-executable-and-its-nodejs'));
    assert.ok(anchors('## Start-up of bin/walship\n').has('start-up-of-binwalship'));
  });

  test('docs/exit-codes.md lists every error code of the catalogue, with its exit status', async () => {
    const text = await readFile(join(REPO, 'docs', 'exit-codes.md'), 'utf8');
    const rows = new Map([...text.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (yes|no) \| (.+) \|$/gm)].map((m) => [m[1]!, { exit: Number(m[2]), retryable: m[3] === 'yes', summary: m[4]! }]));
    assert.deepEqual(
      rows,
      new Map(Object.entries(catalogue).map(([code, e]) => [code, { exit: e.exit, retryable: e.retryable, summary: e.summary }])),
      'docs/exit-codes.md is stale: one row per code of agent/errors.ts',
    );
    const statuses = new Set([...text.matchAll(/^\| (\d+) \| /gm)].map((m) => Number(m[1])));
    for (const [code, e] of Object.entries(catalogue)) assert.ok(statuses.has(e.exit), `exit status ${e.exit} (${code}) is not in the statuses table`);
  });
});
