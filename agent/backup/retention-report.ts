import type { BackupSentinel } from './manifest.ts';
import { formatRetentionDuration } from './retention-duration.ts';
import { planSize, type RetentionPlan } from './retention-plan.ts';
import { IN_PROGRESS_GRACE_MS } from './retention-unfinished.ts';

// What a plan deletes, as the delete commands print it: backups by name,
// WAL as a count and a first..last range. The same words for a dry run
// ("would delete") and for what was done ("deleted").

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const shortTime = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');
const backupLine = (b: BackupSentinel) => `  ${b.name}  started ${shortTime(b.startTime)}, finished ${shortTime(b.finishTime)}${b.permanent ? ', permanent' : ''}`;

export function describePlan(plan: RetentionPlan, done: boolean, graceMs = IN_PROGRESS_GRACE_MS): string[] {
  const verb = done ? 'deleted' : 'would delete';
  const lines: string[] = [];
  if (!done) lines.push('dry run: nothing is deleted; run again with --confirm to delete');
  lines.push(`rule: ${plan.description}`);
  if (planSize(plan) === 0) lines.push(done ? 'nothing was deleted' : 'nothing to delete');

  if (plan.remove.length) lines.push(`${verb} ${plural(plan.remove.length, 'backup')}:`, ...plan.remove.map(backupLine));
  if (plan.unfinished.length) {
    const objects = plan.unfinished.reduce((s, u) => s + u.keys.length, 0);
    lines.push(`${verb} ${plural(plan.unfinished.length, 'unfinished backup')} (${plural(objects, 'object')}, no sentinel):`);
    for (const u of plan.unfinished) lines.push(`  ${u.name}  ${plural(u.keys.length, 'object')}, last written ${shortTime(u.newest.toISOString())}`);
  }
  const positioned = plan.wal.filter((w) => w.position !== undefined);
  const history = plan.wal.length - positioned.length;
  if (plan.wal.length) {
    const range = positioned.length ? `: ${positioned[0]!.name} .. ${positioned.at(-1)!.name}` : '';
    const histories = history ? `${positioned.length ? ', and ' : ': '}${plural(history, 'history file')}` : '';
    lines.push(`${verb} ${plural(plan.wal.length, 'WAL file')}${range}${histories}`);
  }
  const other = plan.steps.find((s) => s.step === 'other')?.keys ?? [];
  if (other.length) lines.push(`${verb} ${other.length <= 3 ? other.join(', ') : plural(other.length, 'other object')}`);

  // Only garbage collection deletes unfinished backups; the other rules never touch them.
  for (const u of plan.rule.kind === 'garbage' && plan.rule.only !== 'wal' ? plan.inProgress : []) {
    lines.push(`skipped ${u.name}: no sentinel, but written to at ${shortTime(u.newest.toISOString())}; it may be a backup in progress (unfinished backups are deleted once ${formatRetentionDuration(graceMs)} old)`);
  }
  if (plan.rule.kind !== 'everything') {
    lines.push(plan.keep.length ? `${done ? 'kept' : 'keeping'} ${plural(plan.keep.length, 'backup')}:` : 'no backups are kept');
    lines.push(...plan.keep.map(backupLine));
    if (plan.walg.length) lines.push(`${done ? 'kept' : 'keeping'} ${plural(plan.walg.length, "WAL-G backup")} (walship's retention never deletes WAL-G's backups, nor the WAL from their start):`, ...plan.walg.map(backupLine));
    if (plan.walFloor) lines.push(`WAL from ${plan.walFloor.segment} on is kept (the start of ${plan.walFloor.backup})`);
  }
  for (const note of plan.notes) lines.push(`note: ${note}`);
  return lines;
}
