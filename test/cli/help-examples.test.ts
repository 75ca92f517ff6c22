import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { Command } from 'commander';
import { HELP_EXAMPLES, allCommands, commandPath } from '../../agent/cli/help-examples.ts';
import { buildProgram } from '../../agent/cli/program.ts';
import { runWalship } from '../support/cli.ts';

// Every command's --help ends with example lines, and every line runs a
// command, with flags, that exists.

function program(): Command {
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: {}, untilStop: () => new Promise<string>(() => {}), onReload: () => {} };
  return buildProgram(io, () => {});
}

const flagsOf = (cmd: Command) => new Set(['--help', '-h', ...cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined))]);

test('every command has examples, and every example names a command of the tree', () => {
  const root = program();
  const paths = allCommands(root).map(commandPath).filter((p) => p !== 'help');
  assert.deepEqual(Object.keys(HELP_EXAMPLES).sort(), [...paths].sort());
  for (const [path, ex] of Object.entries(HELP_EXAMPLES)) {
    assert.ok(existsSync(new URL(`../../${ex.page}`, import.meta.url)), `${path}: ${ex.page} exists`);
    for (const line of ex.lines) {
      // The walship invocation in the line: after `walship `, up to a comment, a pipe, a redirect or a quote.
      const m = /\bwalship ([^#|>']+)/.exec(line);
      assert.ok(m, `${path}: "${line}" runs walship`);
      const words = m[1]!.trim().split(/\s+/);
      let cmd = root;
      while (words.length > 0 && !words[0]!.startsWith('-')) {
        const sub = cmd.commands.find((c) => c.name() === words[0]);
        if (!sub) break;
        cmd = sub;
        words.shift();
      }
      // A group's examples may run its subcommands (walship delete retain for delete).
      const ran = commandPath(cmd);
      if (path !== 'walship') assert.ok(ran === path || ran.startsWith(`${path} `), `${path}: "${line}" runs walship ${path}`);
      for (const w of words.filter((w) => w.startsWith('-') && w !== '-')) {
        assert.ok(flagsOf(cmd).has(w) || flagsOf(root).has(w), `${path}: "${line}": ${w} is not a flag of walship ${commandPath(cmd)}`);
      }
    }
  }
});

test('walship --help and walship st get --help end with their examples', async () => {
  const top = await runWalship(['--help']);
  assert.equal(top.code, 0, top.stderr);
  assert.match(top.stdout, /\nExamples:\n {2}walship demo .*\n.*\n.*\n\nMore: README\.md in the walship directory\.\n/);
  const get = await runWalship(['st', 'get', '--help']);
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /Examples:\n {2}walship st get probe\/in\.bin out\.bin .*\n[\s\S]*More: docs\/storage-tools\.md/);
});
