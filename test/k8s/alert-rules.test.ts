import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { EXAMPLES } from '../support/k8s-manifests.ts';
import { promtoolPath } from '../support/promtool.ts';

// The alerts, checked by Prometheus' own tool: the PrometheusRule's spec is
// the rules file (the one source of the rules), and the unit tests beside
// this file show every alert firing when it should and quiet otherwise.

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));

interface RuleTestFile {
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

async function unitTestFiles(): Promise<string[]> {
  return (await readdir(HERE)).filter((f) => f.endsWith('.promtool.yaml')).sort();
}

describe('alert rules under promtool', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the rules pass promtool check rules and every unit test passes promtool test rules', { timeout: 120_000 }, async () => {
    const promtool = promtoolPath();
    dir = await mkdtemp(join(tmpdir(), 'walship-alerts-'));
    const rule = parse(await readFile(join(EXAMPLES, 'monitoring/prometheusrule.yaml'), 'utf8')) as { kind: string; spec: unknown };
    assert.equal(rule.kind, 'PrometheusRule');
    const rules = join(dir, 'walship.rules.yaml');
    await writeFile(rules, stringify(rule.spec));
    const checked = await run(promtool, ['check', 'rules', rules]);
    assert.match(checked.stdout, /SUCCESS: 14 rules found/);

    const files = await unitTestFiles();
    assert.ok(files.length >= 2, `unit test files: ${files.join(', ')}`);
    for (const f of files) await copyFile(join(HERE, f), join(dir, f));
    // promtool exits non-zero and prints each expected and actual alert when a case fails.
    const tested = await run(promtool, ['test', 'rules', ...files], { cwd: dir }).catch((err: { stdout?: string; stderr?: string }) => {
      assert.fail(`promtool test rules failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    assert.equal(tested.stdout.match(/SUCCESS/g)?.length, files.length, tested.stdout);
  });

  test('every alert has a case where it fires and one where it does not', async () => {
    const rule = parse(await readFile(join(EXAMPLES, 'monitoring/prometheusrule.yaml'), 'utf8')) as { spec: { groups: { rules: { alert?: string }[] }[] } };
    const alerts = rule.spec.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    assert.equal(alerts.length, 14);
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const f of await unitTestFiles()) {
      const file = parse(await readFile(join(HERE, f), 'utf8')) as RuleTestFile;
      for (const t of file.tests) for (const c of t.alert_rule_test ?? []) (c.exp_alerts.length > 0 ? fires : quiet).add(c.alertname);
    }
    for (const a of alerts) {
      assert.ok(fires.has(a), `${a}: no unit test case where it fires`);
      assert.ok(quiet.has(a), `${a}: no unit test case where it stays quiet`);
    }
    for (const a of [...fires, ...quiet]) assert.ok(alerts.includes(a), `a unit test names ${a}, which is not an alert`);
  });
});
