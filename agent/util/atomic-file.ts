import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Writes the stream to a temporary file beside dest, fsyncs it, and only
 * then renames it over dest and fsyncs the directory. If the stream fails
 * at any point (a truncated download, a failed integrity check that is only
 * known at the end), dest is untouched and the temporary file is removed.
 */
export async function writeFileAtomic(dest: string, source: Readable, mode = 0o600): Promise<number> {
  const dir = dirname(dest);
  const tmp = join(dir, `.${basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  let bytes = 0;
  try {
    // flush: fsync before close, so the rename below publishes durable data.
    const sink = createWriteStream(tmp, { flags: 'wx', mode, flush: true });
    await pipeline(source, sink);
    bytes = sink.bytesWritten;
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
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
