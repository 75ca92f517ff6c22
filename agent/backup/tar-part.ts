import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import type { BackupFile } from './manifest.ts';
import type { ScannedFile } from './scan.ts';

// One part of a backup: a plain tar of some of the data directory's files,
// so that `lz4 -d part_001.tar.lz4 | tar t` works by hand. Each file is read
// once, hashed as it streams, and recorded only once it is fully written.

const CHUNK = 256 * 1024;

export interface PartFileHooks {
  /** Called per file written, in order; the caller keeps the last attempt's records. */
  onFile(file: BackupFile): void;
  /** Sees every block of every file (for page checksum verification). */
  onBlock?(file: ScannedFile, offset: number, chunk: Buffer): void;
}

/**
 * A tar stream of the files. The size in each tar header is the size when
 * the file is opened: a file that shrinks while being read is padded with
 * zeros (WAL replay truncates it again), a file that grows is cut (replay
 * rewrites the tail), and a file that vanished is left out (replay of its
 * DROP makes that right).
 */
export function tarPart(files: readonly ScannedFile[], part: number, hooks: PartFileHooks): Readable {
  const pack = tarPack();
  let cancelled = false;

  const writeFile = async (file: ScannedFile): Promise<void> => {
    let handle;
    try {
      handle = await open(file.absPath, 'r');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return;
      throw err;
    }
    try {
      const st = await handle.stat();
      const size = st.size;
      const hash = createHash('sha256');
      let done!: () => void;
      let failed!: (e: unknown) => void;
      const written = new Promise<void>((resolve, reject) => {
        done = resolve;
        failed = reject;
      });
      const entry = pack.entry({ name: file.path, size, mode: file.mode, mtime: new Date(st.mtimeMs), type: 'file' }, (err) => (err ? failed(err) : done()));
      for (let offset = 0; offset < size && !cancelled; ) {
        const want = Math.min(CHUNK, size - offset);
        const chunk = Buffer.allocUnsafe(want);
        const { bytesRead } = await handle.read(chunk, 0, want, offset);
        if (bytesRead === 0) chunk.fill(0);
        const data = bytesRead === 0 ? chunk : chunk.subarray(0, bytesRead);
        hash.update(data);
        hooks.onBlock?.(file, offset, data);
        offset += data.length;
        if (!entry.write(data)) await once(entry, 'drain');
      }
      entry.end(undefined);
      await written;
      hooks.onFile({ path: file.path, size, mtime: st.mtimeMs, mode: file.mode, sha256: hash.digest('hex'), part });
    } finally {
      await handle.close();
    }
  };

  void (async () => {
    try {
      for (const file of files) {
        if (cancelled) return;
        await writeFile(file);
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();

  const out = Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
  out.on('close', () => {
    cancelled = true;
    if (!pack.destroyed) pack.destroy();
  });
  return out;
}
