import { WalshipError } from '../errors.ts';
import type { BackupSentinel } from './manifest.ts';
import { sentinelKey } from './layout.ts';
import type { RetentionInventory } from './retention-inventory.ts';
import { chooseBackups, describeRule, type RetentionRule } from './retention-rules.ts';
import { IN_PROGRESS_GRACE_MS, backupDirectories, sentinelKeysIn, unfinishedBackups, type UnfinishedBackup } from './retention-unfinished.ts';
import { allWal, segmentPosition, walBelow, walObjectOf, type WalObject } from './retention-wal.ts';

// The whole decision, pure: which backups go, which unfinished backups go,
// which WAL goes, and in what order the keys are deleted. A dry run prints
// this plan; --confirm (and the agent) hands the same plan to
// applyRetention.

export interface PlanOptions {
  /** Unfinished backups written to more recently are taken for backups in progress (default 6 h). */
  inProgressGraceMs?: number;
}

export type DeletionStep = 'sentinels' | 'backups' | 'wal' | 'other';

export interface RetentionPlan {
  rule: RetentionRule;
  description: string;
  /** The inventory's time: windows and ages count from it. */
  at: Date;
  /** Complete backups kept and deleted, oldest first by start time. */
  keep: BackupSentinel[];
  remove: BackupSentinel[];
  /** Unfinished backups deleted (garbage, everything). */
  unfinished: UnfinishedBackup[];
  /** Unfinished backups written to within the grace period: never deleted but by `everything`, and the WAL from their start is kept. */
  inProgress: UnfinishedBackup[];
  /** WAL deleted, oldest first by position. */
  wal: WalObject[];
  /** The lowest start position a kept backup (or a backup in progress) needs: WAL below it goes. */
  walFloor?: { segment: string; backup: string };
  /** WAL-G's backups in the prefix: kept by every rule but `everything`, and their WAL with them. */
  walg: BackupSentinel[];
  /** Things worth telling the user (WAL held back, and why). */
  notes: string[];
  /** Keys in deletion order: sentinels first, so a half-deleted backup is never listed as complete; then parts and manifests; then WAL; then the rest. */
  steps: { step: DeletionStep; keys: string[] }[];
}

export function planRetention(inventory: RetentionInventory, rule: RetentionRule, options: PlanOptions = {}): RetentionPlan {
  const graceMs = options.inProgressGraceMs ?? IN_PROGRESS_GRACE_MS;
  if (rule.kind === 'target' && (inventory.walg ?? []).some((b) => b.name === rule.name)) {
    throw new WalshipError('BACKUP_WALG_FORMAT', `backup ${rule.name} was taken by WAL-G: walship's delete never removes WAL-G's backups; delete it with wal-g delete target ${rule.name}. Nothing was deleted`, { details: { backup: rule.name } });
  }
  const permanentWalg = (inventory.walg ?? []).filter((b) => b.permanent);
  if (rule.kind === 'everything' && !rule.force && permanentWalg.length > 0) {
    throw new WalshipError(
      'DELETE_REFUSED',
      `refusing to delete everything: WAL-G's ${permanentWalg.map((b) => b.name).join(', ')} ${permanentWalg.length === 1 ? 'is' : 'are'} permanent; run delete everything FORCE to delete them too. Nothing was deleted`,
      { details: { permanent: permanentWalg.map((b) => b.name) } },
    );
  }
  const { keep, remove } = chooseBackups(inventory.backups, rule, inventory.now);
  const foreign = inventory.foreign ?? [];
  // A foreign backup is complete, not unfinished: its parts are never garbage.
  const complete = new Set([...inventory.backups, ...(inventory.walg ?? []), ...foreign].map((b) => b.name));
  const { interrupted, inProgress } = unfinishedBackups(inventory.backupObjects, complete, inventory.now, graceMs);
  const base = { rule, description: describeRule(rule), at: inventory.now, keep, remove, walg: inventory.walg ?? [] };
  if (rule.kind === 'everything') return planEverything(inventory, base, interrupted, inProgress);
  const plan = planKeeping(inventory, base, rule.kind === 'garbage' && rule.only !== 'wal' ? interrupted : [], inProgress);
  // garbage BACKUPS (WAL-G's words): unfinished backups only, no WAL.
  return rule.kind === 'garbage' && rule.only === 'backups' ? { ...plan, wal: [], steps: plan.steps.map((s) => (s.step === 'wal' ? { ...s, keys: [] } : s)) } : plan;
}

type PlanBase = Pick<RetentionPlan, 'rule' | 'description' | 'at' | 'keep' | 'remove' | 'walg'>;

function planKeeping(inventory: RetentionInventory, base: PlanBase, unfinished: UnfinishedBackup[], inProgress: UnfinishedBackup[]): RetentionPlan {
  const notes = (inventory.foreign ?? []).map(
    (b) => `backup ${b.name} belongs to database system ${b.systemIdentifier}, not to this archive's ${inventory.systemIdentifier ?? '(unknown)'}: it is kept and not counted (only \`delete everything\` removes it)`,
  );
  // Point-in-time recovery is kept from the oldest regular backup on; a
  // permanent backup older than that keeps only the WAL it needs to be
  // consistent (its start to its stop), as with WAL-G and pgBackRest: an
  // archive with one permanent backup would otherwise never lose any WAL.
  const regular = base.keep.filter((b) => !b.permanent);
  // WAL-G's backups are never deleted here, so each keeps the WAL from its
  // start on, as a kept backup does: a WAL-G restore of one still recovers.
  const floor = walFloor([...(regular.length > 0 ? regular : base.keep.slice(-1)), ...base.walg], inProgress, notes);
  for (const b of base.walg) notes.push(`backup ${b.name} was taken by WAL-G: walship's retention keeps it and is not counted by the rule, and the WAL from its start (${b.startWalFile}) on is kept (wal-g delete removes it)`);
  const spans = floor ? permanentSpans(base.keep, floor.position, notes) : undefined;
  const wal = floor && spans ? walBelow(inventory.walObjects, floor.position).filter((w) => !spans.some((s) => w.position! >= s.from && w.position! <= s.to)) : [];
  const dirs = backupDirectories(inventory.backupObjects);
  const backupKeys = [...base.remove.flatMap((b) => (dirs.get(b.name) ?? []).map((o) => o.key)), ...unfinished.flatMap((u) => u.keys)];
  return {
    ...base,
    unfinished,
    inProgress,
    wal,
    ...(floor ? { walFloor: { segment: floor.segment, backup: floor.backup } } : {}),
    notes,
    steps: [
      { step: 'sentinels', keys: base.remove.map((b) => sentinelKey(b.name)) },
      { step: 'backups', keys: backupKeys },
      { step: 'wal', keys: wal.map((w) => w.key) },
    ],
  };
}

/**
 * WAL at or above the lowest start position of any kept backup stays, on
 * every timeline; so does WAL a backup in progress may need. Undefined when
 * no WAL may be deleted.
 */
function walFloor(keep: readonly BackupSentinel[], inProgress: readonly UnfinishedBackup[], notes: string[]): { position: bigint; segment: string; backup: string } | undefined {
  if (keep.length === 0) {
    notes.push('no backup is kept, so no WAL is deleted');
    return undefined;
  }
  let floor: { position: bigint; segment: string; backup: string } | undefined;
  for (const b of keep) {
    const position = segmentPosition(b.startWalFile);
    if (position === undefined) {
      notes.push(`backup ${b.name} records no usable start WAL file (${JSON.stringify(b.startWalFile)}), so no WAL is deleted`);
      return undefined;
    }
    if (!floor || position < floor.position) floor = { position, segment: b.startWalFile, backup: b.name };
  }
  for (const u of inProgress) {
    if (u.startPosition === undefined) {
      notes.push(`${u.name} may be a backup in progress and its name gives no start WAL file, so no WAL is deleted`);
      return undefined;
    }
    if (u.startPosition < floor!.position) {
      floor = { position: u.startPosition, segment: u.name.slice('base_'.length, 'base_'.length + 24), backup: u.name };
      notes.push(`WAL from ${floor.segment} on is kept for ${u.name}, which may be a backup in progress`);
    }
  }
  return floor;
}

/**
 * The WAL positions each permanent backup below the floor needs, or
 * undefined (and a note) when one of them does not say.
 */
function permanentSpans(keep: readonly BackupSentinel[], floor: bigint, notes: string[]): { from: bigint; to: bigint }[] | undefined {
  const spans: { from: bigint; to: bigint }[] = [];
  for (const b of keep) {
    if (!b.permanent) continue;
    const from = segmentPosition(b.startWalFile);
    const to = segmentPosition(b.stopWalFile);
    if (from === undefined || to === undefined) {
      notes.push(`permanent backup ${b.name} records no usable start or stop WAL file, so no WAL is deleted`);
      return undefined;
    }
    if (from >= floor) continue;
    spans.push({ from, to });
    notes.push(`WAL ${b.startWalFile} to ${b.stopWalFile} is kept for permanent backup ${b.name}`);
  }
  return spans;
}

function planEverything(inventory: RetentionInventory, base: PlanBase, interrupted: UnfinishedBackup[], inProgress: UnfinishedBackup[]): RetentionPlan {
  const sentinels = [...sentinelKeysIn(inventory.backupObjects).values()];
  const sentinelSet = new Set(sentinels);
  const wal = allWal(inventory.walObjects);
  const notWal = inventory.walObjects.filter((o) => walObjectOf(o.key) === undefined).map((o) => o.key);
  const notes = inProgress.map((u) => `${u.name} was written to at ${u.newest.toISOString()} and may be a backup in progress: it goes too`);
  for (const b of base.walg) notes.push(`backup ${b.name} was taken by WAL-G: it goes too`);
  if (notWal.length) notes.push(`${notWal.length} other object${notWal.length === 1 ? '' : 's'} under wal_005/ go${notWal.length === 1 ? 'es' : ''} too`);
  return {
    ...base,
    unfinished: [...interrupted, ...inProgress].sort((a, b) => a.name.localeCompare(b.name)),
    inProgress: [],
    wal,
    notes,
    steps: [
      { step: 'sentinels', keys: sentinels },
      { step: 'backups', keys: inventory.backupObjects.map((o) => o.key).filter((k) => !sentinelSet.has(k)) },
      { step: 'wal', keys: wal.map((w) => w.key) },
      // The cluster identity last: while any WAL remains, it still guards the archive.
      { step: 'other', keys: [...notWal, ...(inventory.identity ? [inventory.identity.key] : [])] },
    ],
  };
}

/** How many objects the plan deletes. */
export function planSize(plan: RetentionPlan): number {
  return plan.steps.reduce((s, step) => s + step.keys.length, 0);
}
