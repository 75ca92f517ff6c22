import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pushWithin } from './deadlines.ts';
import { pushWalFile, type PushResult, type WalArchive } from './push.ts';
import { parseWalFileName } from './names.ts';

// PostgreSQL archives one segment at a time and waits for each. The agent
// reads pg_wal/archive_status/*.ready itself and uploads ready segments in
// parallel before PostgreSQL asks, so archive_command usually finds its
// answer waiting. It never writes .done: PostgreSQL does, once
// archive_command returned 0 — which it only does for a stored segment.

/**
 * What the file was when an upload began to read it. Any write changes
 * mtime and ctime (ctime even when mtime is set back, as cp -p does), a
 * replacement changes the inode: while all of them are the same, the bytes
 * are the ones uploaded.
 */
interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

async function identityOf(path: string): Promise<FileIdentity | undefined> {
  try {
    const { dev, ino, size, mtimeNs, ctimeNs } = await stat(path, { bigint: true });
    return { dev, ino, size, mtimeNs, ctimeNs };
  } catch {
    return undefined;
  }
}

function isSameFile(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

interface Upload {
  /** Taken before the upload read the file. */
  file: Promise<FileIdentity | undefined>;
  result: Promise<PushResult>;
}

export interface UploadAheadOptions {
  pgWalDir: string;
  concurrency: number;
  /** Most segments remembered as uploaded or queued; older results are forgotten. */
  maxTracked?: number;
  rescanMs?: number;
  onUploaded?: (name: string, result: PushResult, ms: number) => void;
  onError?: (name: string, err: unknown) => void;
  /** Overall deadline of one upload (WALSHIP_PUSH_TIMEOUT): a hung store cannot hold a segment's upload longer. */
  timeoutMs?: number;
}

export class UploadAhead {
  private readonly archive: WalArchive;
  private readonly options: Required<Omit<UploadAheadOptions, 'onUploaded' | 'onError' | 'timeoutMs'>> & Pick<UploadAheadOptions, 'onUploaded' | 'onError' | 'timeoutMs'>;
  /** Uploads done or under way, by file name, with the file each read: the one place a segment's fate is recorded. */
  private readonly uploads = new Map<string, Upload>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  /** After a failed upload ahead, a segment waits before the scan retries it (archive_command may still ask at once). */
  private readonly retryAfter = new Map<string, { at: number; delayMs: number }>();
  private active = 0;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  #idleSince = Date.now();

  constructor(archive: WalArchive, options: UploadAheadOptions) {
    this.archive = archive;
    this.options = { maxTracked: 4096, rescanMs: 1000, ...options };
  }

  get statusDir(): string {
    return join(this.options.pgWalDir, 'archive_status');
  }

  /** Whether uploads are under way or queued. */
  get busy(): boolean {
    return this.active > 0 || this.queue.length > 0;
  }

  /** How long no upload has been under way or queued (0 while busy). */
  idleMs(now = Date.now()): number {
    return this.busy ? 0 : now - this.#idleSince;
  }

  /** Segments waiting in .ready that are not yet uploaded: the archiver's backlog. */
  async backlog(): Promise<number> {
    return (await this.readyNames()).length;
  }

  start(): void {
    try {
      this.watcher = watch(this.statusDir, () => void this.scan());
      this.watcher.on('error', () => undefined);
    } catch {
      // No inotify here (or no directory yet): the periodic rescan still finds everything.
    }
    this.timer = setInterval(() => void this.scan(), this.options.rescanMs);
    this.timer.unref();
    void this.scan();
  }

  /** Stops queueing; resolves when uploads under way have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    this.queue.length = 0;
    this.queued.clear();
    await Promise.allSettled([...this.uploads.values()].map((u) => u.result));
  }

  /**
   * archive_command's request: resolves once the file at path is stored.
   * An upload done or under way for the same name answers it only if it
   * read this very file, unchanged since: PostgreSQL's answer must be about
   * the bytes it names now. Any other file of that name (another path,
   * rewritten, replaced) is pushed again, which compares it with the
   * archived copy and fails with WAL_OVERWRITE_CONFLICT if it differs.
   */
  async ensureArchived(path: string): Promise<PushResult> {
    const name = basename(path);
    const known = this.uploads.get(name);
    if (known !== undefined) {
      const [uploaded, now] = await Promise.all([known.file, identityOf(path)]);
      if (isSameFile(uploaded, now)) return known.result;
      // One push of a name at a time: this one then finds the first's object in the store.
      await known.result.catch(() => undefined);
    }
    return this.upload(name, path);
  }

  private upload(name: string, path: string): Promise<PushResult> {
    const started = Date.now();
    const { timeoutMs } = this.options;
    const file = identityOf(path);
    const upload: Upload = {
      file,
      result: file.then(() => (timeoutMs === undefined ? pushWalFile(this.archive, path) : pushWithin(name, timeoutMs, (signal) => pushWalFile(this.archive, path, { signal })))).then(
        (result) => {
          this.retryAfter.delete(name);
          this.options.onUploaded?.(name, result, Date.now() - started);
          return result;
        },
        (err: unknown) => {
          // Forget failures, so the next request or scan tries again, with backoff for the scan.
          if (this.uploads.get(name) === upload) this.uploads.delete(name);
          const delayMs = Math.min(30_000, (this.retryAfter.get(name)?.delayMs ?? 500) * 2);
          this.retryAfter.set(name, { at: Date.now() + delayMs, delayMs });
          throw err;
        },
      ),
    };
    this.uploads.delete(name);
    this.uploads.set(name, upload);
    this.forgetOldest();
    return upload.result;
  }

  private forgetOldest(): void {
    while (this.uploads.size > this.options.maxTracked) {
      const oldest = this.uploads.keys().next().value as string;
      this.uploads.delete(oldest);
    }
  }

  private async readyNames(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.statusDir);
    } catch {
      return [];
    }
    return entries
      .filter((e) => e.endsWith('.ready'))
      .map((e) => e.slice(0, -'.ready'.length))
      .filter((name) => {
        try {
          parseWalFileName(name);
          return true;
        } catch {
          return false;
        }
      })
      .sort();
  }

  private async scan(): Promise<void> {
    if (this.stopped) return;
    const ready = await this.readyNames();
    // Segments no longer .ready were archived (or removed): their backoff is moot.
    for (const name of this.retryAfter.keys()) if (!ready.includes(name)) this.retryAfter.delete(name);
    for (const name of ready) {
      if (this.uploads.has(name) || this.queued.has(name)) continue;
      if ((this.retryAfter.get(name)?.at ?? 0) > Date.now()) continue;
      if (this.queued.size >= this.options.maxTracked) break;
      this.queue.push(name);
      this.queued.add(name);
    }
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.options.concurrency && this.queue.length > 0) {
      const name = this.queue.shift()!;
      this.queued.delete(name);
      if (this.uploads.has(name)) continue;
      this.active++;
      this.upload(name, join(this.options.pgWalDir, name))
        .catch((err: unknown) => this.options.onError?.(name, err))
        .finally(() => {
          this.active--;
          if (!this.busy) this.#idleSince = Date.now();
          this.pump();
        });
    }
  }
}
