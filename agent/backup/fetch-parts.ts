import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { encodingFromMetadata } from '../codec/index.ts';
import { WalshipError, isWalshipError } from '../errors.ts';
import { runLimited } from '../util/limit.ts';
import type { WalArchive } from '../wal/push.ts';
import type { BackupFile, BackupPart } from './manifest.ts';
import type { UnpackFindings } from './part-unpack.ts';
import type { PartWorker, PartWorkers } from './part-workers.ts';

// The data of a backup out of the store, on part worker threads: which
// local files already match (delta), and the parts that hold the others,
// `concurrency` at a time.

/** Splits files into those whose local copy matches its checksum and those to write. */
export async function unchangedFiles(workers: PartWorkers, dest: string, files: readonly BackupFile[], concurrency: number): Promise<{ kept: number; toWrite: BackupFile[] }> {
  const toWrite: BackupFile[] = [];
  let kept = 0;
  // Largest first: one big segment hashed last would leave the other threads idle.
  await runLimited(
    [...files].sort((a, b) => b.size - a.size).map((file) => async () => {
      const local = join(dest, file.path);
      const st = await stat(local).catch(() => undefined);
      if (st?.isFile() && st.size === file.size && (await workers.use((w) => w.sha256(local), file.size)).sha256 === file.sha256) kept++;
      else toWrite.push(file);
    }),
    concurrency,
  );
  return { kept, toWrite };
}

export interface FetchPartsOptions {
  dest: string;
  owner?: { uid: number; gid: number };
  encryptedByDefault: boolean;
  concurrency: number;
  /** File bytes written so far, of all parts. */
  onBytes?: (n: number) => void;
}

/** Where a part's files go: dest, or (undefined) nowhere, verified only, with page checksums when pagesBefore is set. */
export type PartSink = { dest: string; owner?: { uid: number; gid: number }; unlisted?: { expected: readonly string[] } } | { dest?: undefined; pagesBefore?: bigint };

/**
 * One part out of the store through a worker: restored into the sink's
 * dest, or only decoded and checked. Errors name the part's key.
 */
export async function unpackPart(
  worker: PartWorker,
  archive: WalArchive,
  part: BackupPart,
  wanted: readonly BackupFile[],
  sink: PartSink,
  encryptedByDefault: boolean,
  onBytes: (n: number) => void,
): Promise<UnpackFindings> {
  try {
    const { body, info } = await archive.store.get(part.key);
    const how = encodingFromMetadata(info.key, info.metadata, encryptedByDefault);
    // lz4 (and plain tar) is decoded on the worker; other methods on the main thread's codec.
    const onWorker = how.compression === 'lz4' || how.compression === 'none';
    const source = onWorker ? archive.codec.decrypt(body, how) : archive.codec.decode(body, how);
    return await worker.unpack({ ...sink, partKey: part.key, wanted, compression: how.compression === 'lz4' ? 'lz4' : 'none' }, source, onBytes);
  } catch (err) {
    throw namingPart(err, part.key);
  }
}

/** Files grouped by the part that holds them. */
export function filesByPart(files: readonly BackupFile[]): Map<number, BackupFile[]> {
  const byPart = new Map<number, BackupFile[]>();
  for (const f of files) {
    if (!byPart.has(f.part)) byPart.set(f.part, []);
    byPart.get(f.part)!.push(f);
  }
  return byPart;
}

/** Writes `files` from the parts that hold them. */
export async function fetchParts(workers: PartWorkers, archive: WalArchive, parts: readonly BackupPart[], files: readonly BackupFile[], options: FetchPartsOptions): Promise<void> {
  const byPart = filesByPart(files);
  const sink: PartSink = { dest: options.dest, ...(options.owner ? { owner: options.owner } : {}) };
  await runLimited(
    parts
      .filter((p) => byPart.has(p.part))
      .map((part) => () => {
        const wanted = byPart.get(part.part)!;
        return workers.use(
          (worker) => unpackPart(worker, archive, part, wanted, sink, options.encryptedByDefault, (n) => options.onBytes?.(n)),
          wanted.reduce((s, f) => s + f.size, 0),
        );
      }),
    options.concurrency,
  );
}

/** A codec or store error from a part, with the part's key in it: which object is damaged is the first thing to know. */
function namingPart(err: unknown, key: string): unknown {
  if (!isWalshipError(err) || err.message.includes(key)) return err;
  return new WalshipError(err.code, `${key}: ${err.message}`, { cause: err, details: { ...err.details, key } });
}
