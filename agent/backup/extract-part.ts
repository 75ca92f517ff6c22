import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, rename, rm, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { WalshipError, isWalshipError } from '../errors.ts';
import type { BackupFile } from './manifest.ts';

// Unpacks one part, writing only the files asked for. Each file is written
// beside its destination, fsynced, checked against the manifest's sha256
// and only then renamed into place: a tampered part fails at the first bad
// file, and never leaves a wrong file under a right name.

export interface ExtractOptions {
  dest: string;
  /** Files wanted from this part, by path. */
  wanted: ReadonlyMap<string, BackupFile>;
  owner?: { uid: number; gid: number };
  onBytes?: (n: number) => void;
}

export async function extractPart(decoded: Readable, partKey: string, options: ExtractOptions): Promise<void> {
  const extract = tarExtract();
  const feeding = pipeline(decoded, extract);
  feeding.catch(() => undefined);
  const seen = new Set<string>();
  try {
    for await (const entry of extract) {
      const file = options.wanted.get(entry.header.name);
      if (!file || entry.header.type !== 'file') {
        entry.resume();
        continue;
      }
      const target = join(options.dest, ...file.path.split('/'));
      const tmp = join(dirname(target), `.${file.path.split('/').pop()}.walship-restore`);
      const hash = createHash('sha256');
      try {
        await pipeline(
          entry,
          async function* (source) {
            for await (const chunk of source) {
              hash.update(chunk as Buffer);
              options.onBytes?.((chunk as Buffer).length);
              yield chunk;
            }
          },
          createWriteStream(tmp, { mode: file.mode & 0o777, flush: true }),
        );
        const digest = hash.digest('hex');
        if (digest !== file.sha256) {
          throw new WalshipError('BACKUP_CORRUPT', `${partKey}: ${file.path} does not match the backup manifest (sha256 ${digest.slice(0, 16)}…, expected ${file.sha256.slice(0, 16)}…): the backup is damaged or was tampered with`, { details: { path: file.path } });
        }
        await chmod(tmp, file.mode & 0o7777);
        if (options.owner) await chown(tmp, options.owner.uid, options.owner.gid);
        await utimes(tmp, file.mtime / 1000, file.mtime / 1000);
        await rename(tmp, target);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      seen.add(file.path);
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    decoded.destroy();
    // The decoder's own error (an integrity failure at the end of an encrypted part) says most.
    const feedError = await feeding.then(() => undefined, (e: unknown) => e);
    if (isWalshipError(feedError)) throw feedError;
    // tar-stream's own complaints (a damaged header, data ending inside a file) carry no errno code, unlike local I/O errors.
    if (!isWalshipError(err) && err instanceof Error && (err as NodeJS.ErrnoException).code === undefined) {
      throw new WalshipError('BACKUP_CORRUPT', `${partKey} is not a valid tar stream (${err.message}): the backup is damaged or was tampered with`, { cause: err });
    }
    throw err;
  }
  const missing = [...options.wanted.keys()].filter((p) => !seen.has(p));
  if (missing.length > 0) {
    throw new WalshipError('BACKUP_CORRUPT', `${partKey} lacks ${missing.length} file(s) the manifest puts there, e.g. ${missing[0]}: the backup is damaged`);
  }
}
