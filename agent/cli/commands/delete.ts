import type { Command } from 'commander';
import type { RetentionRule } from '../../backup/retention-rules.ts';
import { parseRetentionDuration } from '../../backup/retention-duration.ts';
import { WalshipError } from '../../errors.ts';
import { writeLine } from '../io.ts';
import type { CommandContext } from '../context.ts';
import type { CommandRunner } from '../program.ts';
import { registerBackupMark } from './backup-mark.ts';

// `walship delete`: retention by hand, in WAL-G's words (retain, before,
// target, everything, garbage, with their FULL/FIND_FULL/FORCE/ARCHIVES/BACKUPS) plus Barman's recovery window and garbage collection. Every
// one is a dry run that prints the plan unless --confirm is given.

function parseCount(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1) {
    throw new WalshipError('USAGE', `delete retain: expected a number of backups to keep, at least 1, got ${text === undefined ? 'nothing' : JSON.stringify(text)} (delete everything removes them all)`);
  }
  return Number(text);
}

// WAL-G's modifiers. Every walship backup is full, so FULL (count only full
// backups) and FIND_FULL (also keep the full backups kept deltas need) pick
// the same backups as no modifier.
const MODIFIER = /^(full|find_full)$/i;

function retainRule(first: string, second: string | undefined): RetentionRule {
  if (MODIFIER.test(first)) return { kind: 'keep', count: parseCount(second) };
  if (second !== undefined) throw new WalshipError('USAGE', `delete retain ${first} ${second}: expected delete retain [FULL|FIND_FULL] N`);
  return { kind: 'keep', count: parseCount(first) };
}

/** `[FIND_FULL] <x>`: the modifier is optional; `what` names the command in errors. */
function modified(what: string, first: string, second: string | undefined): string {
  if (second === undefined) {
    if (/^find_full$/i.test(first)) throw new WalshipError('USAGE', `delete ${what} ${first}: expected delete ${what} [FIND_FULL] <${what === 'target' ? 'name' : 'name|time'}>`);
    return first;
  }
  if (!/^find_full$/i.test(first)) throw new WalshipError('USAGE', `delete ${what} ${first} ${second}: expected delete ${what} [FIND_FULL] <${what === 'target' ? 'name' : 'name|time'}> (FIND_FULL is the only modifier)`);
  return second;
}

function garbageRule(only: string | undefined): RetentionRule {
  if (only === undefined) return { kind: 'garbage' };
  if (/^archives$/i.test(only)) return { kind: 'garbage', only: 'wal' };
  if (/^backups$/i.test(only)) return { kind: 'garbage', only: 'backups' };
  throw new WalshipError('USAGE', `delete garbage ${only}: expected nothing, ARCHIVES (WAL older than every backup only) or BACKUPS (unfinished backups only)`);
}

function beforeRule(target: string): RetentionRule {
  if (!/^\d{4}-\d{2}-\d{2}/.test(target)) return { kind: 'before', name: target };
  const ms = Date.parse(target);
  if (Number.isNaN(ms)) throw new WalshipError('USAGE', `delete before ${target}: not a backup name nor an ISO 8601 time like 2025-01-31T12:00:00Z`);
  return { kind: 'before', time: new Date(ms) };
}

function windowRule(text: string): RetentionRule {
  const windowMs = parseRetentionDuration(text);
  if (windowMs === undefined) throw new WalshipError('USAGE', `delete window ${text}: expected a duration such as 7d, 36h, 2w or 1d12h`);
  return { kind: 'keep', windowMs };
}

function everythingRule(force: string | undefined): RetentionRule {
  if (force !== undefined && force !== 'FORCE') throw new WalshipError('USAGE', `delete everything ${force}: expected nothing or FORCE`);
  return { kind: 'everything', force: force === 'FORCE' };
}

async function deleteByRule(ctx: CommandContext, rule: () => RetentionRule, confirm: boolean): Promise<void> {
  const chosen = rule();
  const { config, driver } = await ctx.store();
  try {
    const [{ readInventory }, { planRetention }, { applyRetention }, { describePlan }] = await Promise.all([
      import('../../backup/retention-inventory.ts'),
      import('../../backup/retention-plan.ts'),
      import('../../backup/retention-apply.ts'),
      import('../../backup/retention-report.ts'),
    ]);
    const plan = planRetention(await readInventory(driver), chosen);
    if (confirm) await applyRetention(driver, plan, await ctx.logger(config));
    for (const line of describePlan(plan, confirm)) writeLine(ctx.io.stdout, line);
  } finally {
    await driver.close();
  }
}

export function registerRetentionCommands(program: Command, run: CommandRunner): void {
  const del = program
    .command('delete')
    .description('delete old backups and the WAL only they needed; a dry run that prints what would go unless --confirm is given');
  const confirmOption = '--confirm';
  const confirmDoc = 'delete; without it, only print what would be deleted';

  del
    .command('retain')
    .description('keep the N newest backups (by start time) and permanent ones')
    .argument('<N|FULL|FIND_FULL>', 'how many backups to keep (FULL N and FIND_FULL N are accepted as in WAL-G: every walship backup is full)')
    .argument('[N]')
    .option(confirmOption, confirmDoc)
    .action((first: string, second: string | undefined, opts: { confirm?: boolean }) => run((ctx) => deleteByRule(ctx, () => retainRule(first, second), opts.confirm === true)));

  del
    .command('before')
    .description('delete backups that started before the named backup (kept) or before an ISO 8601 time')
    .argument('<name|time|FIND_FULL>', 'a backup name, or a time such as 2025-01-31T12:00:00Z (FIND_FULL before it is accepted as in WAL-G)')
    .argument('[name|time]')
    .option(confirmOption, confirmDoc)
    .action((first: string, second: string | undefined, opts: { confirm?: boolean }) => run((ctx) => deleteByRule(ctx, () => beforeRule(modified('before', first, second)), opts.confirm === true)));

  del
    .command('target')
    .description('delete one backup, and the WAL only it needed; refused for a permanent backup')
    .argument('<name|FIND_FULL>', 'the backup (FIND_FULL before it is accepted as in WAL-G: a walship backup is its own chain)')
    .argument('[name]')
    .option(confirmOption, confirmDoc)
    .action((first: string, second: string | undefined, opts: { confirm?: boolean }) => run((ctx) => deleteByRule(ctx, () => ({ kind: 'target', name: modified('target', first, second) }), opts.confirm === true)));

  del
    .command('window')
    .description('keep every backup needed to recover to any point of the last <duration>: those that finished within it, and the newest that finished before it')
    .argument('<duration>', 'e.g. 7d, 36h, 2w')
    .option(confirmOption, confirmDoc)
    .action((duration: string, opts: { confirm?: boolean }) => run((ctx) => deleteByRule(ctx, () => windowRule(duration), opts.confirm === true)));

  del
    .command('everything')
    .description('delete every backup, all WAL and walship/cluster.json; refused while a backup is permanent, unless FORCE')
    .argument('[FORCE]', 'delete permanent backups too')
    .option(confirmOption, confirmDoc)
    .action((force: string | undefined, opts: { confirm?: boolean }) => run((ctx) => deleteByRule(ctx, () => everythingRule(force), opts.confirm === true)));

  del
    .command('garbage')
    .description('delete what no complete backup owns: interrupted backups (not ones written to in the last 6 hours) and WAL older than every backup')
    .argument('[ARCHIVES|BACKUPS]', "as in WAL-G: only the WAL (ARCHIVES), or only the interrupted backups (BACKUPS)")
    .option(confirmOption, confirmDoc)
    .action((only: string | undefined, opts: { confirm?: boolean }) => run((ctx) => deleteByRule(ctx, () => garbageRule(only), opts.confirm === true)));

  registerBackupMark(program, run);
}
