import type { Config } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { applyRetention, type RetentionResult } from './retention-apply.ts';
import { readInventory } from './retention-inventory.ts';
import { planRetention } from './retention-plan.ts';
import type { RetentionRule } from './retention-rules.ts';

// The agent's automatic retention, run after each successful backup:
// WALSHIP_RETENTION_FULL and WALSHIP_RETENTION_WINDOW as one rule (a backup
// either keeps is kept), planned over a fresh look at the store and applied.

/** The rule the settings ask for, or undefined when automatic retention is off (WALSHIP_RETENTION_FULL=0, no window). */
export function automaticRule(settings: Config['retention']): RetentionRule | undefined {
  const count = settings.full > 0 ? settings.full : undefined;
  if (count === undefined && settings.windowMs === undefined) return undefined;
  return { kind: 'keep', ...(count === undefined ? {} : { count }), ...(settings.windowMs === undefined ? {} : { windowMs: settings.windowMs }) };
}

/**
 * Deletes what the retention settings no longer keep. Returns undefined when
 * retention is off. Throws on a store failure: the backup just taken is
 * complete either way, so callers log it and carry on.
 */
export async function retainAfterBackup(store: StorageDriver, settings: Config['retention'], log: Logger): Promise<RetentionResult | undefined> {
  const rule = automaticRule(settings);
  if (!rule) return undefined;
  const plan = planRetention(await readInventory(store), rule);
  for (const note of plan.notes) log.info({ note }, 'retention');
  return applyRetention(store, plan, log);
}
