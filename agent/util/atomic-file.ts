import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chown, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface AtomicWriteOptions {
  mode?: number;
  /** Give the file to this owner before it appears (a root agent writing into a postgres-owned pg_wal). */
  owner?: { uid: number; gid: number };
  /**
   * fsync the file and its directory (the default). Files that can be fetched
   * again after a crash, such as WAL handed to restore_command, skip it.
   */
  durable?: boolean;
  /** Last check on the complete temporary file; throwing keeps dest untouched. */
  verify?: (tmpPath: string, bytes: number) => Promise<void> | void;
}

/**
 * Writes the stream to a temporary file beside dest, fsyncs it, and only
 * then renames it over dest and fsyncs the directory. If the stream fails
 * at any point (a truncated download, a failed integrity check that is only
 * known at the end) or verify throws, dest is untouched and the temporary
 * file is removed.
 */
export async function writeFileAtomic(dest: string, source: Readable, options: AtomicWriteOptions = {}): Promise<number> {
  const dir = dirname(dest);
  const tmp = join(dir, `.${basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  let bytes = 0;
  try {
    // flush: fsync before close, so the rename below publishes durable data.
    const sink = createWriteStream(tmp, { flags: 'wx', mode: options.mode ?? 0o600, flush: options.durable !== false });
    await pipeline(source, sink);
    bytes = sink.bytesWritten;
    if (options.owner) await chown(tmp, options.owner.uid, options.owner.gid);
    await options.verify?.(tmp, bytes);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (options.durable !== false) await fsyncDir(dir);
  return bytes;
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
