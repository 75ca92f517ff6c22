import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { ChunkWriter } from '../codec/chunk-writer.ts';
import type { Reclaimer } from '../util/reclaim.ts';
import { BLCKSZ } from '../pg/page-checksum.ts';
import type { BackupFile } from './manifest.ts';
import type { PageVerifier } from './page-verify.ts';
import type { ScannedFile } from './scan.ts';
import { TAR_END_LENGTH, encodeFileHeader, tarPadding } from './tar-format.ts';

// One part of a backup, produced on a worker thread: a plain tar of some of
// the data directory's files (so that `lz4 -d part_001.tar.lz4 | tar t`
// works by hand). Each file is read once, straight into the compressor's
// input buffer, and hashed (and page-verified) from there; a file is
// recorded only once all of it is written.
//
// The size in each tar header is the size when the file is opened: a file
// that shrinks while being read is padded with zeros (WAL replay truncates
// it again), a file that grows is cut (replay rewrites the tail), and a
// file that vanished is left out (replay of its DROP makes that right).

export interface PackIo {
  /** Takes the writer's ready batches (and the file bytes read since the last call); may wait for the consumer. */
  drain(dataBytes: number): Promise<void>;
  cancelled(): boolean;
  /** Told of the writer's native allocations: reclaimed as the loop goes. */
  reclaimer?: Reclaimer;
}

export interface PackResult {
  files: BackupFile[];
  /** Checksum failures, when a verifier was given. */
  corruptBlocks: { path: string; block: number }[];
}

const ZEROS = Buffer.alloc(TAR_END_LENGTH);

export async function packPart(files: readonly ScannedFile[], part: number, writer: ChunkWriter, io: PackIo, verifier?: PageVerifier): Promise<PackResult | undefined> {
  const records: BackupFile[] = [];
  let unreported = 0;
  const put = (bytes: Buffer) => {
    for (let i = 0; i < bytes.length; ) {
      const space = writer.space();
      const n = bytes.copy(space, 0, i);
      writer.commit(n);
      i += n;
    }
  };
  verifier?.resetPart(part);

  for (const file of files) {
    if (io.cancelled()) return undefined;
    let fd: number;
    try {
      fd = openSync(file.absPath, 'r');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') continue;
      throw err;
    }
    try {
      const st = fstatSync(fd);
      const size = st.size;
      const hash = createHash('sha256');
      put(encodeFileHeader({ path: file.path, size, mode: file.mode, mtime: st.mtimeMs / 1000 }));
      for (let offset = 0; offset < size; ) {
        const space = writer.space();
        let want = Math.min(space.length, size - offset);
        // Whole pages per read, so the verifier sees pages whole: a page
        // that would straddle two input chunks starts the next one instead.
        if (want < size - offset) {
          want -= want % BLCKSZ;
          if (want === 0) {
            writer.flush();
            continue;
          }
        }
        const target = space.subarray(0, want);
        const bytesRead = readSync(fd, target, 0, want, offset);
        if (bytesRead === 0) target.fill(0);
        const data = bytesRead === 0 ? target : target.subarray(0, bytesRead);
        hash.update(data);
        if (offset % BLCKSZ === 0) verifier?.check(part, file.path, offset, data);
        offset += data.length;
        unreported += data.length;
        writer.commit(data.length);
        if (writer.ready.length > 0) {
          await io.drain(unreported);
          unreported = 0;
          if (io.cancelled()) return undefined;
        }
        if (io.reclaimer?.due) await io.reclaimer.reclaim();
      }
      put(ZEROS.subarray(0, tarPadding(size)));
      records.push({ path: file.path, size, mtime: st.mtimeMs, mode: file.mode, sha256: hash.digest('hex'), part });
    } finally {
      closeSync(fd);
    }
  }
  put(ZEROS);
  writer.end();
  await io.drain(unreported);
  return { files: records, corruptBlocks: verifier?.corruptBlocks() ?? [] };
}
