import type { ObjectInfo, StorageDriver } from '../storage/driver.ts';
import { listAll } from '../storage/list.ts';
import { IDENTITY_KEY } from '../wal/cluster-identity.ts';
import { WAL_PREFIX } from '../wal/layout.ts';
import { readCatalogue } from './catalog.ts';
import { BACKUP_PREFIX } from './layout.ts';
import type { BackupSentinel } from './manifest.ts';

// What retention decides from: one look at the store. Planning is pure over
// this, so every rule is tested without a store.

export interface RetentionInventory {
  /** When the store was read: windows and the in-progress grace count from it. */
  now: Date;
  /** This archive's complete backups (those with a sentinel), oldest first by start time: what rules choose from. */
  backups: BackupSentinel[];
  /** Other clusters' complete backups (see readCatalogue): no rule but `everything` deletes them. */
  foreign?: BackupSentinel[];
  /** WAL-G's complete backups of this archive (see readCatalogue): never deleted by a rule but `everything`; the WAL from their start is kept. */
  walg?: BackupSentinel[];
  /** The archive's system identifier, when it records one. */
  systemIdentifier?: string;
  /** Every object under basebackups_005/: sentinels, parts, manifests, unfinished backups. */
  backupObjects: ObjectInfo[];
  /** Every object under wal_005/. */
  walObjects: ObjectInfo[];
  /** walship/cluster.json, when present (only `delete everything` removes it). */
  identity?: ObjectInfo;
}

export async function readInventory(store: StorageDriver, now = new Date()): Promise<RetentionInventory> {
  // Objects before sentinels: a backup that completes in between is then
  // seen complete, and its parts are never taken for an unfinished backup's.
  const backupObjects = await collect(listAll(store, BACKUP_PREFIX));
  const { backups, walg, foreign, systemIdentifier } = await readCatalogue(store);
  const walObjects = await collect(listAll(store, WAL_PREFIX));
  const identity = await store.stat(IDENTITY_KEY);
  return { now, backups, walg, foreign, backupObjects, walObjects, ...(systemIdentifier === undefined ? {} : { systemIdentifier }), ...(identity ? { identity } : {}) };
}

async function collect(objects: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of objects) out.push({ key: o.key, size: o.size, lastModified: o.lastModified });
  return out;
}
