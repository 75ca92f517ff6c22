import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../agent/cli/program.ts';
import { catalogue } from '../../agent/errors.ts';
import { RESERVED_PREFIXES, settingNamed } from '../../agent/config/settings.ts';
import { classifyWalgName } from '../../agent/config/walg-settings.ts';
import { WalshipMetrics } from '../../agent/daemon/metrics.ts';
import { EXAMPLES, REPO, allManifests, containersOf, exampleFiles, isWalshipImage } from '../support/k8s-manifests.ts';

// The docs and the examples cannot drift from the code: every walship
// command and flag they use exists in the command tree built by
// agent/cli/program.ts, every variable exists in the settings table, and
// every metric they name, or use in a PromQL expression, is one the agent
// exports. The docs are the README and every page in docs/.

/** Variables the example's restore script reads: not settings, and so never with a walship or WAL-G prefix. */
const SCRIPT_VARIABLES = ['RESTORE_MODE', 'RESTORE_COMMAND', 'RESTORE_TARGET_TIME', 'RESTORE_TARGET_ACTION'];
/** The postgres image's own variables. */
const POSTGRES_IMAGE_VARIABLES = ['POSTGRES_PASSWORD', 'PGDATA'];

async function docs(): Promise<{ where: string; text: string }[]> {
  const out = [{ where: 'README.md', text: await readFile(`${REPO}README.md`, 'utf8') }];
  for (const f of (await readdir(`${REPO}docs`)).filter((f) => f.endsWith('.md')).sort()) {
    out.push({ where: `docs/${f}`, text: await readFile(`${REPO}docs/${f}`, 'utf8') });
  }
  for (const f of exampleFiles().filter((f) => /\.(md|ya?ml)$/.test(f))) out.push({ where: f, text: await readFile(`${EXAMPLES}${f}`, 'utf8') });
  return out;
}

/** Code in a Markdown or YAML text: fenced blocks, `inline code`, and YAML's block scalars and flow strings as whole lines. */
function codeOf(where: string, text: string): string[] {
  if (where.endsWith('.yaml') || where.endsWith('.yml')) {
        return text.split('\n').flatMap((line) => {
      // Prose (comments, annotations) quotes commands in backticks; a line without any is code.
      const quoted = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      if (quoted.length > 0 || /^\s*#/.test(line)) return quoted;
      // Otherwise only a line that runs walship (a script line, an args list) or names the client.
      return /(^\s*(-\s*)?["']?|exec\s+|\$\()walship\s|walship-client\s/.test(line) ? [line] : [];
    });
  }
  const out: string[] = [];
  // A ```text block is a picture (the diagrams), not code.
  for (const m of text.matchAll(/```([a-z]*)\n([\s\S]*?)```/g)) if (m[1] !== 'text') out.push(...m[2]!.split('\n'));
  const prose = text.replace(/```[a-z]*\n[\s\S]*?```/g, '');
  for (const m of prose.matchAll(/`([^`\n]+)`/g)) out.push(m[1]!);
  return out;
}

interface Invocation {
  where: string;
  words: string[];
}

/** `walship <command> [subcommand] [args and --flags]` and `walship-client <op>` in a line of code. */
function invocations(where: string, line: string): { walship: Invocation[]; client: Invocation[] } {
  const walship: Invocation[] = [];
  const client: Invocation[] = [];
  for (const segment of line.split(/\|\||&&|[|;`]|\$\(|\)/)) {
    const words = segment.trim().match(/'[^']*'|"[^"]*"|\S+/g) ?? [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!.replace(/^["']|["',]$/g, '');
      if (w === 'walship' && /^[a-z]/.test(words[i + 1] ?? '')) walship.push({ where, words: words.slice(i + 1) });
      if (/(^|\/)walship-client$/.test(w) && words[i + 1] !== undefined && !words[i + 1]!.startsWith('%')) client.push({ where, words: words.slice(i + 1) });
    }
  }
  return { walship, client };
}

function program(): Command {
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: {}, untilStop: () => new Promise<string>(() => {}), onReload: () => {} };
  return buildProgram(io, () => {});
}

function flagsOf(cmd: Command): Set<string> {
  return new Set(['--help', '-h', ...cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined))]);
}

async function allInvocations(): Promise<{ walship: Invocation[]; client: Invocation[] }> {
  const walship: Invocation[] = [];
  const client: Invocation[] = [];
  for (const { where, text } of await docs()) {
    for (const line of codeOf(where, text)) {
      const found = invocations(where, line);
      walship.push(...found.walship);
      client.push(...found.client);
    }
  }
  // Containers of the walship image: the entrypoint is `walship`, args are its command line.
  for (const { where, doc } of await allManifests()) {
    for (const c of containersOf(doc)) {
      if (isWalshipImage(c.image) && c.command === undefined) walship.push({ where: `${where}: ${doc.kind} ${doc.metadata.name} container ${c.name}`, words: c.args ?? [] });
    }
  }
  return { walship, client };
}

describe('the docs and the k8s examples stay in step with the code', () => {
  test('every walship command and flag used exists', async () => {
    const root = program();
    const global = flagsOf(root);
    const { walship, client } = await allInvocations();
    const used = new Set<string>();
    for (const inv of walship) {
      let cmd = root.commands.find((c) => c.name() === inv.words[0]);
      assert.ok(cmd, `${inv.where}: walship ${inv.words[0]}: no such command (${inv.words.join(' ')})`);
      let rest = inv.words.slice(1);
      // Subcommands (walship st check write).
      for (let sub = cmd.commands.find((c) => c.name() === rest[0]); sub; sub = cmd.commands.find((c) => c.name() === rest[0])) {
        cmd = sub;
        rest = rest.slice(1);
      }
      used.add(cmd.name());
      const allowed = new Set([...global, ...flagsOf(cmd)]);
      for (const word of rest) {
        const flag = /^(--?[a-z][a-z-]*)(=.*)?$/.exec(word)?.[1];
        if (flag) assert.ok(allowed.has(flag), `${inv.where}: walship ${cmd.name()} has no flag ${flag}`);
      }
    }
    for (const c of ['install-client', 'agent', 'backup-fetch', 'backup-list']) assert.ok(used.has(c), `the examples use walship ${c}`);
    assert.ok(walship.length >= 15, `found ${walship.length} walship invocations`);
    for (const inv of client) {
      assert.ok(['wal-push', 'wal-fetch'].includes(inv.words[0]!.replace(/['"]/g, '')), `${inv.where}: walship-client ${inv.words[0]}`);
    }
    const script = await readFile(`${REPO}bin/walship-client`, 'utf8');
    for (const op of ['wal-push', 'wal-fetch']) assert.match(script, new RegExp(`walship-client ${op}`), `bin/walship-client knows ${op}`);
  });

  test('the detector sees a command or a flag that does not exist', () => {
    const root = program();
    const inv = invocations('x', "walship backup-fetch /data LATEST --target-tme T").walship[0]!;
    const cmd = root.commands.find((c) => c.name() === inv.words[0])!;
    assert.ok(!flagsOf(cmd).has('--target-tme') && flagsOf(cmd).has('--target-time'));
    assert.equal(root.commands.find((c) => c.name() === 'backup-restore'), undefined);
  });

  test('every variable in the Secrets, the config file and the containers exists', async () => {
    const known = (name: string) => settingNamed(name) !== undefined;
    const names = new Map<string, string>();
    for (const { where, doc } of await allManifests()) {
      if (doc.kind === 'Secret' && doc.metadata.name.endsWith('walship-store')) for (const k of Object.keys(doc.stringData ?? {})) names.set(k, `${where}: Secret ${doc.metadata.name}`);
      if (doc.kind === 'ConfigMap' && doc.metadata.name.endsWith('walship-config')) {
        const { parse } = await import('yaml');
        for (const k of Object.keys(parse(doc.data['walship.yaml']) as object)) names.set(k, `${where}: ConfigMap ${doc.metadata.name}`);
      }
      for (const c of containersOf(doc)) {
        for (const e of c.env ?? []) {
          const here = `${where}: ${doc.kind} ${doc.metadata.name} container ${c.name}`;
          if (isWalshipImage(c.image)) {
            if (SCRIPT_VARIABLES.includes(e.name)) continue;
            names.set(e.name, here);
          } else {
            assert.ok(POSTGRES_IMAGE_VARIABLES.includes(e.name) || known(e.name), `${here}: ${e.name}`);
          }
        }
      }
    }
    for (const [name, where] of names) assert.ok(known(name), `${where}: ${name} is not a walship setting`);
    for (const v of SCRIPT_VARIABLES) {
      assert.ok(!RESERVED_PREFIXES.some((p) => v.startsWith(p)), `${v} would be refused as an unknown setting`);
      assert.ok(!known(v));
    }
    const script = (await allManifests()).find((m) => m.doc.kind === 'ConfigMap' && m.doc.metadata.name === 'walship-restore')!.doc.data['restore.sh'] as string;
    for (const v of SCRIPT_VARIABLES) assert.ok(script.includes(`\${${v}`), `restore.sh reads ${v}`);

    // Variables named in the docs: settings, or the ones walship-client reads itself.
    const clientScript = await readFile(`${REPO}bin/walship-client`, 'utf8');
    const clientVariable = (name: string) => name.startsWith('WALSHIP_CLIENT_') && clientScript.includes(`\${${name}`);
    for (const { where, text } of await docs()) {
      for (const m of text.matchAll(/`((?:WALG|WALE|WALSHIP|AWS|AZURE|GOOGLE|S3|PG)[A-Z0-9_]*)`/g)) {
        const name = m[1]!;
        if (name.endsWith('_')) continue; // a prefix, e.g. `AWS_*` or `WALG_`
        const ok = known(name) || classifyWalgName(name) !== undefined || SCRIPT_VARIABLES.includes(name) || name in catalogue || clientVariable(name);
        assert.ok(ok, `${where}: ${name} is not a walship setting`);
      }
    }
  });

  test('every metric in the alerts and the dashboard is exported by walship', async () => {
    const metrics = await new WalshipMetrics().registerEveryMetric().registry.getMetricsAsJSON();
    const exported = new Set<string>();
    for (const m of metrics) {
      exported.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(m.name + s);
      if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) exported.add(m.name + s);
    }
    const exprs: { where: string; expr: string }[] = [];
    for (const { where, doc } of await allManifests()) {
      if (doc.kind === 'PrometheusRule') {
        for (const g of doc.spec.groups) for (const r of g.rules) exprs.push({ where: `${where}: ${r.alert ?? r.record}`, expr: String(r.expr) });
      }
    }
    const dashboard = JSON.parse(await readFile(`${EXAMPLES}monitoring/grafana-dashboard.json`, 'utf8')) as {
      panels: { id: number; title: string; targets: { expr: string }[] }[];
      templating: { list: { name: string; query: unknown }[] };
    };
    for (const p of dashboard.panels) for (const t of p.targets) exprs.push({ where: `dashboard: ${p.title}`, expr: t.expr });
    for (const v of dashboard.templating.list) if (typeof v.query === 'string' && v.query.includes('walship_')) exprs.push({ where: `dashboard variable ${v.name}`, expr: v.query });
    assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'dashboard panel ids are unique');

    const used = new Set<string>();
    for (const { where, expr } of exprs) {
      const names = expr.match(/\bwalship_[a-z0-9_]+/g) ?? [];
      assert.ok(names.length > 0, `${where}: no walship metric in ${expr}`);
      for (const n of names) {
        assert.ok(exported.has(n), `${where}: ${n} is not exported by walship`);
        used.add(n);
      }
      // Balanced brackets, the one PromQL syntax check that needs no parser.
      const stack: string[] = [];
      for (const ch of expr.replace(/"[^"]*"/g, '""')) {
        if ('([{'.includes(ch)) stack.push(ch);
        else if (')]}'.includes(ch)) assert.equal(stack.pop(), { ')': '(', ']': '[', '}': '{' }[ch], `${where}: unbalanced ${ch} in ${expr}`);
      }
      assert.equal(stack.length, 0, `${where}: unclosed bracket in ${expr}`);
    }
    // The alerts the examples promise.
    const alerts = exprs.filter((e) => !e.where.startsWith('dashboard')).map((e) => e.expr).join('\n');
    // Not scraped at all: absent() of a family every agent always exports (never one a pod may lack, which would alert twice).
    assert.match(alerts, /absent\(walship_backups\)/);
    for (const n of ['walship_store_up', 'walship_wal_ready_segments', 'walship_wal_seconds_since_last_archive', 'walship_wal_last_archive_failure_timestamp_seconds', 'walship_backup_last_success_timestamp_seconds']) {
      assert.ok(alerts.includes(n), `an alert uses ${n}`);
    }
    // Every metric the docs name, in `code`, is exported (`walship_nodejs_*` names a family of them).
    for (const { where, text } of await docs()) {
      for (const m of text.matchAll(/`(walship_[a-z0-9_]+)(\*?)`/g)) {
        const [, name, star] = m;
        const ok = star === '*' ? [...exported].some((e) => e.startsWith(name!)) : exported.has(name!);
        assert.ok(ok, `${where}: ${name}${star} is not exported by walship`);
      }
    }
    // And the detector sees a name walship does not export.
    assert.ok(!exported.has('walship_wal_archived_total'));
  });
});
