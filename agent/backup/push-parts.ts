import { encodingMetadata, extensionFor, type Codec } from '../codec/index.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { runLimited } from '../util/limit.ts';
import { partKey } from './layout.ts';
import type { BackupPart } from './manifest.ts';
import type { PackResult } from './part-pack.ts';
import type { PartWorkers } from './part-workers.ts';
import type { ScannedFile } from './scan.ts';

// The data of a backup into the store: each part packed on a worker thread
// and uploaded as it is packed, `concurrency` parts at a time.

export interface PushPartsOptions {
  /** Parts packed and uploaded at once. */
  concurrency: number;
  /** Verify page checksums against this start LSN. */
  verifyFromLsn?: bigint;
  /** File bytes read so far, of all parts. */
  onBytes?: (n: number) => void;
}

export interface PushedPart extends PackResult {
  part: BackupPart;
}

export async function pushParts(workers: PartWorkers, store: StorageDriver, codec: Codec, backup: string, parts: readonly ScannedFile[][], options: PushPartsOptions): Promise<PushedPart[]> {
  const extension = extensionFor(codec.encoding.compression);
  // lz4 is framed on the worker threads; other methods stream through the main thread's codec.
  const compression = codec.encoding.compression === 'lz4' ? 'lz4' : 'none';
  return runLimited(
    parts.map((files, i) => () =>
      workers.use(async (worker) => {
        const part = i + 1;
        const key = partKey(backup, part, extension);
        let attempt: Promise<PackResult> | undefined;
        let stored = 0;
        await store.put(
          key,
          () => {
            // A retry starts the part over: only the last attempt counts.
            stored = 0;
            const job = worker.pack({ files, part, compression, ...(options.verifyFromLsn === undefined ? {} : { verifyFromLsn: options.verifyFromLsn }) }, (n) => options.onBytes?.(n));
            attempt = job.result;
            const encoded = compression === 'lz4' ? codec.encrypt(job.stream) : codec.encode(job.stream);
            encoded.on('data', (c: Buffer) => (stored += c.length));
            return encoded;
          },
          { metadata: encodingMetadata(codec.encoding) },
        );
        const packed = await attempt!;
        const dataBytes = bytesOf(packed.files);
        return { ...packed, part: { part, key, files: packed.files.length, dataBytes, storedBytes: stored } };
      }, bytesOf(files)),
    ),
    options.concurrency,
  );
}

function bytesOf(files: readonly { size: number }[]): number {
  return files.reduce((s, f) => s + f.size, 0);
}
