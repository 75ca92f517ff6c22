import { open } from 'node:fs/promises';
import { encodingFromMetadata } from '../codec/index.ts';
import { WalshipError, isWalshipError } from '../errors.ts';
import type { GetResult } from '../storage/driver.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { through } from '../util/streams.ts';
import { SIZE_METADATA, findArchived, metadataValue, walKey } from './layout.ts';
import { archivedDigest, describeDigest, digestTap, type ContentDigest } from './content-digest.ts';
import { parseWalFileName, type WalFileName } from './names.ts';
import type { WalArchive } from './push.ts';
import { LONG_HEADER_BYTES, checkSegment, parseSegmentHeader } from './segment-header.ts';
import { checkAllPages } from './page-check.ts';

// restore_command's half: a file reaches its destination only after
// decryption, decompression and every check passed, because PostgreSQL
// replays whatever it finds there.

export interface FetchOptions {
  /** Owner for the written file, when a root process writes into a postgres-owned directory. */
  owner?: { uid: number; gid: number };
  /**
   * Told of each object restored without a checksum to check it against
   * (WAL-G wrote it, or its metadata is gone), once the size and every page
   * header passed: for a warning, since damage inside a record went unseen.
   */
  onNoChecksum?: (name: string, key: string) => void | Promise<void>;
}

/** The log line for onNoChecksum, the same from the CLI and the agent. */
export const NO_CHECKSUM_WARNING = 'restored a WAL object that carries no checksum: its size and every page header were checked, damage inside a record could not be';

export type FetchResult = { outcome: 'not-found' } | { outcome: 'fetched'; key: string; bytes: number };

async function locate(archive: WalArchive, name: string): Promise<GetResult | undefined> {
  try {
    return await archive.store.get(walKey(name, archive.codec.encoding.compression));
  } catch (err) {
    if (!isWalshipError(err, 'STORE_NOT_FOUND')) throw err;
  }
  // Written with another compression (the setting changed, or WAL-G wrote it).
  const found = await findArchived(archive.store, name);
  if (!found) return undefined;
  try {
    return await archive.store.get(found.key);
  } catch (err) {
    if (isWalshipError(err, 'STORE_NOT_FOUND')) return undefined;
    throw err;
  }
}

export async function fetchWalFile(archive: WalArchive, name: string, dest: string, options: FetchOptions = {}): Promise<FetchResult> {
  const file = parseWalFileName(name);
  const got = await locate(archive, name);
  if (!got) return { outcome: 'not-found' };
  const { body, info } = got;
  const expected = archivedDigest(info);
  const tap = digestTap(expected?.algorithm);
  const decoded = archive.codec.decode(body, encodingFromMetadata(info.key, info.metadata, archive.encryptedByDefault));
  // Not fsynced, as pgBackRest's archive-get: after a crash PostgreSQL asks for the file again.
  const bytes = await writeFileAtomic(dest, through(decoded, tap.stream), {
    mode: 0o600,
    durable: false,
    ...(options.owner ? { owner: options.owner } : {}),
    verify: (tmp, written) => verifyRestored(file, info.key, tmp, written, tap.digest(), expected, metadataValue(info, SIZE_METADATA)),
  });
  if (expected === undefined) await options.onNoChecksum?.(name, info.key);
  return { outcome: 'fetched', key: info.key, bytes };
}

async function verifyRestored(file: WalFileName, key: string, tmp: string, bytes: number, digest: ContentDigest, expected?: ContentDigest, expectedSize?: string): Promise<void> {
  const fail = (why: string) => new WalshipError('WAL_INTEGRITY', `${key}: ${why}; not written to its destination`, { details: { key } });
  if (expectedSize !== undefined && String(bytes) !== expectedSize) throw fail(`restored ${bytes} bytes, archived ${expectedSize}`);
  if (expected !== undefined && expected.hex !== digest.hex) throw fail(`${describeDigest(digest)} differs from the archived ${describeDigest(expected)}`);
  if (file.kind === 'segment' || file.kind === 'partial') {
    const handle = await open(tmp, 'r');
    try {
      const page = Buffer.alloc(LONG_HEADER_BYTES);
      const { bytesRead } = await handle.read(page, 0, LONG_HEADER_BYTES, 0);
      try {
        const header = parseSegmentHeader(page.subarray(0, bytesRead), file.name);
        checkSegment(file, header, bytes);
        // A .partial segment ends where its timeline did: past that, a recycled file's old pages.
        if (expected === undefined && file.kind === 'segment') await checkAllPages(handle, file, header, bytes);
      } catch (err) {
        throw fail((err as Error).message);
      }
    } finally {
      await handle.close();
    }
  }
}
