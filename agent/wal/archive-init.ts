import { WalshipError } from '../errors.ts';
import { listAll } from '../storage/list.ts';
import { archivedSegmentHeader } from './archived-identity.ts';
import { IDENTITY_KEY, factsOfSegment, firstHistoryObject, identityMissingError, readIdentity, recordIdentity } from './cluster-identity.ts';
import { WAL_PREFIX } from './layout.ts';
import { parseWalFileName } from './names.ts';
import type { WalArchive } from './push.ts';

// `walship st init`: the explicit first step for an archive. A new archive
// needs nothing more (the first push records the identity). An archive
// that holds WAL but no identity (written by WAL-G, or its identity was
// deleted) is adopted only with --force, taking the identity from its
// newest WAL segment: wal-push refuses such an archive until then.

export async function initArchive(archive: WalArchive, options: { force: boolean }): Promise<string> {
  const store = archive.store;
  const found = await readIdentity(store);
  if (found) {
    return `OK: ${store.location} is initialised: it belongs to database system ${found.record.systemIdentifier} (recorded ${found.record.recordedAt} at ${found.record.firstSegment})${options.force ? '; --force changes nothing while an identity is recorded' : ''}`;
  }
  const evidence = await firstHistoryObject(store);
  if (evidence === undefined) return `OK: ${store.location} is an empty archive; the first wal-push or backup-push records which cluster it belongs to`;
  if (!options.force) throw identityMissingError(store, evidence);

  let newest: { key: string; name: string } | undefined;
  for await (const o of listAll(store, WAL_PREFIX)) {
    const name = o.key.slice(WAL_PREFIX.length).split('.')[0]!;
    let kind: string;
    try {
      kind = parseWalFileName(name).kind;
    } catch {
      continue;
    }
    if (kind === 'segment' && (!newest || name > newest.name)) newest = { key: o.key, name };
  }
  if (!newest) {
    throw new WalshipError('ARCHIVE_IDENTITY_MISSING', `st init --force: ${store.location} holds ${evidence} but no WAL segment to take the cluster identity from; restore ${IDENTITY_KEY} from a copy instead`);
  }
  const header = await archivedSegmentHeader(archive, { key: newest.key, size: 0, lastModified: new Date(0) }, newest.name);
  if (!header) throw new WalshipError('CRYPTO_NEEDS_PRIVATE_KEY', `st init --force: ${newest.key} is encrypted; configure the private key to read its header`);
  const record = await recordIdentity(store, factsOfSegment(header), newest.name);
  return `OK: ${store.location} now belongs to database system ${record.systemIdentifier} (taken from ${newest.key}); pushes of any other system are refused`;
}
