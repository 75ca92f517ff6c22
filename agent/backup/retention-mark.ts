import { WalshipError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { listBackups, readSentinel, walgNotRestorable, writeSentinel } from './catalog.ts';
import type { BackupSentinel } from './manifest.ts';

// backup-mark: makes a backup permanent (retention never deletes it, nor
// the WAL it needs) or ordinary again, by rewriting its sentinel.
//
// The sentinel is the source of truth for the mark: backup-list and
// retention read only sentinels. The manifest keeps the flag as it was when
// the backup was taken, and is deliberately not rewritten: it is large,
// possibly encrypted for a key whose private half is not here, and a
// rewrite that failed half-way would risk the one object a restore cannot
// do without.

export async function markBackup(store: StorageDriver, name: string, permanent: boolean): Promise<{ sentinel: BackupSentinel; changed: boolean }> {
  const sentinel = await readSentinel(store, name);
  if (!sentinel) {
    const names = (await listBackups(store)).map((b) => b.name);
    throw new WalshipError('STORE_NOT_FOUND', `no complete backup named ${name} in ${store.location}${names.length ? `; backups: ${names.join(', ')}` : '; there are no backups'}`);
  }
  // Rewriting it would turn WAL-G's sentinel into walship's: wal-g backup-mark marks WAL-G's backups.
  if (sentinel.tool === 'wal-g') throw walgNotRestorable(store, sentinel);
  if (sentinel.permanent === permanent) return { sentinel, changed: false };
  const updated = { ...sentinel, permanent };
  await writeSentinel(store, updated);
  return { sentinel: updated, changed: true };
}
