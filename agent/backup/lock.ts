import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { WalshipError, isWalshipError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';

// One backup at a time per archive, whoever starts it (the agent's
// schedule, or a backup-push run by hand, on any pod): the lock is an object
// in the store, walship/backup.lock, created with put-if-absent. Its holder
// renews it while it works; a lock not renewed for `ttlMs` was left by a
// process that died, and is taken over.

export const LOCK_KEY = 'walship/backup.lock';

interface LockRecord {
  id: string;
  holder: string;
  host: string;
  pid: number;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
}

async function readLock(store: StorageDriver, key: string): Promise<LockRecord | undefined> {
  try {
    const { body } = await store.get(key);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as LockRecord;
  } catch (err) {
    if (isWalshipError(err, 'STORE_NOT_FOUND')) return undefined;
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * A holder on this very host whose process is gone (killed, crashed) need
 * not be waited out: the common case of a backup-push killed by hand or a
 * container restarted in place. Holders on other hosts wait for the TTL.
 */
function heldByDeadLocalProcess(held: LockRecord): boolean {
  if (held.host !== hostname() || heldHere.has(held.id)) return false;
  // Our pid but not our lock: an earlier incarnation (a restarted container's pid 1).
  if (held.pid === process.pid) return true;
  try {
    process.kill(held.pid, 0);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'ESRCH';
  }
}

/** Locks this process holds now. */
const heldHere = new Set<string>();

const body = (record: LockRecord) => {
  const bytes = Buffer.from(JSON.stringify(record));
  return { source: () => Readable.from([bytes]), length: bytes.length };
};

export interface HeldLock {
  release(): Promise<void>;
}

export async function acquireBackupLock(store: StorageDriver, ttlMs = 10 * 60_000, now: () => Date = () => new Date()): Promise<HeldLock> {
  return acquireStoreLock(store, BACKUP_LOCK, ttlMs, now);
}

/** What a lock guards: its key, and what its message calls the work. */
export interface LockKind {
  key: string;
  work: string;
}

export const BACKUP_LOCK: LockKind = { key: LOCK_KEY, work: 'backup' };
/** Restore drills: one at a time per archive, and none while the backup lock is held (restore-drill looks). */
export const DRILL_LOCK: LockKind = { key: 'walship/drill.lock', work: 'restore drill' };

/** Who holds the lock now, if anyone does and is not past its TTL. */
export async function lockHolder(store: StorageDriver, kind: LockKind, now: () => Date = () => new Date()): Promise<string | undefined> {
  const held = await readLock(store, kind.key);
  if (!held || Date.parse(held.expiresAt) <= now().getTime() || heldByDeadLocalProcess(held)) return undefined;
  return `${held.holder} since ${held.acquiredAt}`;
}

export async function acquireStoreLock(store: StorageDriver, kind: LockKind, ttlMs = 10 * 60_000, now: () => Date = () => new Date()): Promise<HeldLock> {
  const LOCK_KEY = kind.key;
  const id = randomBytes(8).toString('hex');
  const holder = `${hostname()} pid ${process.pid}`;
  const acquiredAt = now().toISOString();
  const record = (): LockRecord => {
    const t = now();
    return { id, holder, host: hostname(), pid: process.pid, acquiredAt, renewedAt: t.toISOString(), expiresAt: new Date(t.getTime() + ttlMs).toISOString() };
  };
  const first = body(record());
  if (!(await store.putIfAbsent(LOCK_KEY, first.source, { contentLength: first.length }))) {
    const held = await readLock(store, LOCK_KEY);
    if (held && Date.parse(held.expiresAt) > now().getTime() && !heldByDeadLocalProcess(held)) {
      throw new WalshipError('BACKUP_LOCKED', `another ${kind.work} is running: ${held.holder} since ${held.acquiredAt} (lock ${LOCK_KEY} in the store, renewed ${held.renewedAt}); try again when it has finished`);
    }
    // Stale: its holder stopped renewing it. Take it over, then make sure we won.
    await store.deleteMany([LOCK_KEY]);
    const again = body(record());
    if (!(await store.putIfAbsent(LOCK_KEY, again.source, { contentLength: again.length })) || (await readLock(store, LOCK_KEY))?.id !== id) {
      throw new WalshipError('BACKUP_LOCKED', `another process took over the stale ${kind.work} lock ${LOCK_KEY} at the same moment; try again`);
    }
  }
  heldHere.add(id);
  const renew = setInterval(() => {
    const renewed = body(record());
    void store.put(LOCK_KEY, renewed.source, { contentLength: renewed.length }).catch(() => undefined);
  }, Math.max(1000, ttlMs / 3));
  renew.unref();
  return {
    async release() {
      clearInterval(renew);
      heldHere.delete(id);
      const current = await readLock(store, LOCK_KEY).catch(() => undefined);
      if (current?.id === id) await store.deleteMany([LOCK_KEY]);
    },
  };
}
