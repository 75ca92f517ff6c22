import type { Logger } from '../log.ts';
import type { StorageDriver } from '../storage/driver.ts';
import type { RetentionPlan } from './retention-plan.ts';

// Carries out a plan, step by step in its order: sentinels, then the
// backups' parts and manifests, then WAL, then the rest. A run that fails
// half-way leaves no backup listed as complete without its parts; what it
// left behind is found again by the next run (or by `delete garbage`).

/** Keys per deleteMany call: S3's DeleteObjects limit. */
const BATCH = 1000;

export interface RetentionResult {
  backups: number;
  unfinished: number;
  wal: number;
  objects: number;
}

export async function applyRetention(store: StorageDriver, plan: RetentionPlan, log: Logger): Promise<RetentionResult> {
  let objects = 0;
  for (const { step, keys } of plan.steps) {
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      await store.deleteMany(batch);
      objects += batch.length;
      log.debug({ step, deleted: i + batch.length, of: keys.length }, 'retention: deleting');
    }
  }
  const result: RetentionResult = { backups: plan.remove.length, unfinished: plan.unfinished.length, wal: plan.wal.length, objects };
  if (objects > 0) {
    log.info(
      {
        ...result,
        deletedBackups: plan.remove.map((b) => b.name),
        ...(plan.wal.length ? { walFirst: plan.wal[0]!.name, walLast: plan.wal.at(-1)!.name } : {}),
        kept: plan.keep.map((b) => b.name),
      },
      `retention: ${plan.description}`,
    );
  }
  return result;
}
