import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageDriver } from '../../agent/storage/driver.ts';
import { listAll } from '../../agent/storage/list.ts';
import { WAL_PREFIX } from '../../agent/wal/layout.ts';
import { parseWalFileName } from '../../agent/wal/names.ts';
import type { PgCluster } from './pg-cluster.ts';

/** Waits until pg_stat_archiver has archived the given segment name or later, failing on timeout. */
export async function waitArchived(cluster: PgCluster, segment: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await cluster.query<{ last_archived_wal: string | null; failed_count: string; last_failed_wal: string | null }>(
      'select last_archived_wal, failed_count, last_failed_wal from pg_stat_archiver',
    );
    if (row?.last_archived_wal && row.last_archived_wal.slice(0, 24) >= segment) return;
    if (Date.now() > deadline) {
      throw new Error(`segment ${segment} not archived in ${timeoutMs} ms (last ${row?.last_archived_wal}, failed ${row?.failed_count} ${row?.last_failed_wal})\n${(await cluster.log()).slice(-3000)}`);
    }
    await sleep(100);
  }
}

/** Switches to a new segment and returns the name of the one just finished. */
export async function switchWal(cluster: PgCluster): Promise<string> {
  const [row] = await cluster.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
  return row!.name;
}

/** The archived segment names (without extension), sorted. */
export async function archivedSegments(store: StorageDriver): Promise<string[]> {
  const names: string[] = [];
  for await (const o of listAll(store, WAL_PREFIX)) {
    const base = o.key.slice(WAL_PREFIX.length).split('.')[0]!;
    if (/^[0-9A-F]{24}$/.test(base) && !o.key.includes('.partial') && !o.key.includes('.backup')) names.push(base);
  }
  return names.sort();
}

/** Throws unless the segments from first to last on one timeline are all present. */
export function assertContiguous(names: readonly string[], first: string, last: string): void {
  const firstNo = parseWalFileName(first).segNo!;
  const lastNo = parseWalFileName(last).segNo!;
  const tl = first.slice(0, 8);
  const have = new Set(names.filter((n) => n.startsWith(tl)).map((n) => parseWalFileName(n).segNo!));
  const missing: bigint[] = [];
  for (let s = firstNo; s <= lastNo; s++) if (!have.has(s)) missing.push(s);
  if (missing.length > 0) throw new Error(`archive has gaps: segment numbers ${missing.join(', ')} missing between ${first} and ${last}`);
}
