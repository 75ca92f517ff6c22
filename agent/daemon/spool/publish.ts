import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Owner } from './layout.ts';

// Makes a small file appear whole under its name: written beside it under
// a hidden temp name, then renamed. Unlike util/atomic-file.ts it does not
// fsync: an answer lives for milliseconds, is read through the same page
// cache by a client on the same kernel, and a crash that could lose it
// would take that client down too. An fsync would only add to the time
// PostgreSQL waits.

export async function publishFile(dest: string, content: string, options: { mode: number; owner?: Owner | undefined }): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', options.mode);
    try {
      await handle.writeFile(content);
      await handle.chmod(options.mode); // the process umask must not narrow it
      if (options.owner) await handle.chown(options.owner.uid, options.owner.gid);
    } finally {
      await handle.close();
    }
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
