import { WalshipError } from '../errors.ts';
import type { BackupSentinel } from './manifest.ts';
import { formatRetentionDuration } from './retention-duration.ts';

// Which complete backups a rule keeps. Pure. Backups are ordered by their
// recorded start (or finish) time, never by name: names sort by WAL
// position, and after a timeline switch position stops following time.
// Permanent backups are kept by every rule but `delete everything FORCE`.

export type RetentionRule =
  /** The `count` newest backups, and/or every backup needed to recover to any point of the last `windowMs`; with both, a backup either keeps is kept. */
  | { kind: 'keep'; count?: number; windowMs?: number }
  /** Backups that started before the named backup (kept) or before the time. */
  | { kind: 'before'; name: string }
  | { kind: 'before'; time: Date }
  /** Every backup and all WAL; permanent backups only with force. */
  | { kind: 'everything'; force: boolean }
  /** One backup (WAL-G's `delete target`); every walship backup is full, so FIND_FULL's chain is the backup itself. */
  | { kind: 'target'; name: string }
  /** No complete backup: unfinished backups and WAL older than every backup; `only` narrows it to one of the two (WAL-G's ARCHIVES, BACKUPS). */
  | { kind: 'garbage'; only?: 'wal' | 'backups' };

export interface BackupChoice {
  keep: BackupSentinel[];
  remove: BackupSentinel[];
}

const started = (b: BackupSentinel) => Date.parse(b.startTime);
const finished = (b: BackupSentinel) => Date.parse(b.finishTime);
const byStart = (a: BackupSentinel, b: BackupSentinel) => started(a) - started(b) || finished(a) - finished(b) || a.name.localeCompare(b.name);

export function describeRule(rule: RetentionRule): string {
  switch (rule.kind) {
    case 'keep': {
      const parts: string[] = [];
      if (rule.count !== undefined) parts.push(`the ${rule.count} newest backup${rule.count === 1 ? '' : 's'}`);
      if (rule.windowMs !== undefined) parts.push(`every backup needed to recover to any point of the last ${formatRetentionDuration(rule.windowMs)}`);
      return `keep ${parts.join(', and ')}, and permanent backups`;
    }
    case 'before':
      return 'name' in rule ? `delete backups that started before ${rule.name}` : `delete backups that started before ${rule.time.toISOString()}`;
    case 'everything':
      return rule.force ? 'delete every backup, permanent ones too, and all WAL' : 'delete every backup and all WAL';
    case 'target':
      return `delete backup ${rule.name}`;
    case 'garbage':
      return rule.only === 'wal' ? 'delete WAL older than every backup' : rule.only === 'backups' ? 'delete unfinished backups' : 'delete unfinished backups and WAL older than every backup';
  }
}

/** Splits complete backups into kept and removed, both oldest first. */
export function chooseBackups(backups: readonly BackupSentinel[], rule: RetentionRule, now: Date): BackupChoice {
  const sorted = [...backups].sort(byStart);
  const keptNames = keptByRule(sorted, rule, now);
  const keep: BackupSentinel[] = [];
  const remove: BackupSentinel[] = [];
  for (const b of sorted) ((b.permanent && !(rule.kind === 'everything' && rule.force)) || keptNames.has(b.name) ? keep : remove).push(b);
  if (rule.kind === 'everything' && !rule.force && keep.length > 0) {
    throw new WalshipError(
      'DELETE_REFUSED',
      `refusing to delete everything: ${keep.length === 1 ? 'backup' : 'backups'} ${keep.map((b) => b.name).join(', ')} ${keep.length === 1 ? 'is' : 'are'} permanent; clear the mark with backup-mark <name> --impermanent, or run delete everything FORCE to delete them too. Nothing was deleted`,
      { details: { permanent: keep.map((b) => b.name) } },
    );
  }
  return { keep, remove };
}

function keptByRule(sorted: readonly BackupSentinel[], rule: RetentionRule, now: Date): Set<string> {
  const names = (list: readonly BackupSentinel[]) => new Set(list.map((b) => b.name));
  switch (rule.kind) {
    case 'keep': {
      if (rule.count === undefined && rule.windowMs === undefined) throw new WalshipError('INTERNAL', 'a keep rule needs a count or a window');
      if (rule.count !== undefined && !(Number.isInteger(rule.count) && rule.count >= 1)) {
        throw new WalshipError('USAGE', `keep ${rule.count}: expected a whole number of backups, at least 1 (delete everything removes them all)`);
      }
      const kept = new Set<string>();
      if (rule.count !== undefined) for (const b of sorted.slice(-rule.count)) kept.add(b.name);
      if (rule.windowMs !== undefined) for (const n of keptByWindow(sorted, now.getTime() - rule.windowMs)) kept.add(n);
      return kept;
    }
    case 'before': {
      if ('name' in rule) {
        const target = sorted.find((b) => b.name === rule.name);
        if (!target) {
          throw new WalshipError('STORE_NOT_FOUND', `no complete backup named ${rule.name}${sorted.length ? `; backups: ${sorted.map((b) => b.name).join(', ')}` : '; there are no backups'}`);
        }
        return names(sorted.filter((b) => b === target || started(b) >= started(target)));
      }
      const at = rule.time.getTime();
      const kept = sorted.filter((b) => started(b) >= at);
      if (kept.length === 0 && sorted.length > 0) {
        throw new WalshipError(
          'DELETE_REFUSED',
          `no backup started at or after ${rule.time.toISOString()} (the newest started at ${sorted.at(-1)!.startTime}): this would delete every backup; delete everything does that. Nothing was deleted`,
        );
      }
      return names(kept);
    }
    case 'target': {
      const target = sorted.find((b) => b.name === rule.name);
      if (!target) {
        throw new WalshipError('STORE_NOT_FOUND', `no complete backup named ${rule.name}${sorted.length ? `; backups: ${sorted.map((b) => b.name).join(', ')}` : '; there are no backups'}`);
      }
      if (target.permanent) {
        throw new WalshipError('DELETE_REFUSED', `refusing to delete backup ${rule.name}: it is permanent; clear the mark with backup-mark ${rule.name} --impermanent first. Nothing was deleted`, { details: { permanent: [rule.name] } });
      }
      return names(sorted.filter((b) => b !== target));
    }
    case 'everything':
      return new Set();
    case 'garbage':
      return names(sorted);
  }
}

/**
 * Barman's recovery window: every backup that finished inside the window,
 * and the newest one that finished before it starts, so that the start of
 * the window itself can be recovered to.
 */
function keptByWindow(backups: readonly BackupSentinel[], windowStart: number): string[] {
  const kept = backups.filter((b) => finished(b) >= windowStart).map((b) => b.name);
  let anchor: BackupSentinel | undefined;
  for (const b of backups) {
    if (finished(b) < windowStart && (!anchor || finished(b) > finished(anchor) || (finished(b) === finished(anchor) && started(b) > started(anchor)))) anchor = b;
  }
  if (anchor) kept.push(anchor.name);
  return kept;
}
