import { chown, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fetchWalFile, type FetchOptions, type FetchResult } from './fetch.ts';
import { parseWalFileName, segmentName, type WalFileName } from './names.ts';
import type { WalArchive } from './push.ts';
import { LONG_HEADER_BYTES, checkSegment, parseSegmentHeader } from './segment-header.ts';

// Recovery asks for one segment at a time and replays it before asking for
// the next, so a download per request leaves the disk idle while the network
// works and the reverse. On a request for segment N the agent downloads the
// next few into a directory on the same filesystem as pg_wal, so that the
// following requests are a verified rename.

const PREFETCH_DIR = '.walship-prefetch';

export interface PrefetchObserver {
  hit(): void;
  miss(): void;
}

export class WalPrefetcher {
  private readonly archive: WalArchive;
  private readonly ahead: number;
  private readonly options: FetchOptions;
  private readonly inFlight = new Map<string, Promise<FetchResult>>();
  private segmentSize = 16 * 1024 * 1024;
  private readonly observer: PrefetchObserver | undefined;

  constructor(archive: WalArchive, ahead: number, options: FetchOptions = {}, observer?: PrefetchObserver) {
    this.archive = archive;
    this.ahead = ahead;
    this.options = options;
    this.observer = observer;
  }

  /** restore_command's request: how a hole is answered, and its deadline, are the request's. */
  async fetch(name: string, dest: string, request: Pick<FetchOptions, 'holes' | 'signal'> = {}): Promise<FetchResult> {
    const file = parseWalFileName(name, this.segmentSize);
    const options: FetchOptions = { ...this.options, ...request, segmentSize: this.segmentSize };
    if (file.kind !== 'segment' || this.ahead === 0) return fetchWalFile(this.archive, name, dest, options);

    const dir = join(dirname(dest), PREFETCH_DIR);
    const staged = join(dir, name);
    const pending = this.inFlight.get(name);
    if (pending) await pending.catch(() => undefined);
    const used = await this.useStaged(file, staged, dest);
    let result: FetchResult;
    if (used) {
      this.observer?.hit();
      result = used;
    } else {
      this.observer?.miss();
      result = await fetchWalFile(this.archive, name, dest, options);
    }
    if (result.outcome === 'fetched') {
      await this.learnSegmentSize(dest);
      void this.prefetchAfter(file, dir).catch(() => undefined);
    }
    return result;
  }

  /** Moves a prefetched file into place after checking it still is the segment its name says. */
  private async useStaged(file: WalFileName, staged: string, dest: string): Promise<FetchResult | undefined> {
    try {
      const handle = await open(staged, 'r');
      try {
        const { size } = await handle.stat();
        const page = Buffer.alloc(LONG_HEADER_BYTES);
        const { bytesRead } = await handle.read(page, 0, LONG_HEADER_BYTES, 0);
        checkSegment(file, parseSegmentHeader(page.subarray(0, bytesRead), file.name), size);
      } finally {
        await handle.close();
      }
      await rename(staged, dest);
      const { size } = await stat(dest);
      return { outcome: 'fetched', key: `prefetched:${file.name}`, bytes: size };
    } catch {
      await rm(staged, { force: true });
      return undefined;
    }
  }

  private async learnSegmentSize(path: string): Promise<void> {
    try {
      const handle = await open(path, 'r');
      try {
        const page = Buffer.alloc(LONG_HEADER_BYTES);
        const { bytesRead } = await handle.read(page, 0, LONG_HEADER_BYTES, 0);
        this.segmentSize = parseSegmentHeader(page.subarray(0, bytesRead), path).segmentSize;
      } finally {
        await handle.close();
      }
    } catch {
      // Keep the size we had; the next segment will tell.
    }
  }

  private async prefetchAfter(file: WalFileName, dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.options.owner) await chown(dir, this.options.owner.uid, this.options.owner.gid);
    const wanted = new Set<string>();
    for (let i = 1n; i <= BigInt(this.ahead); i++) wanted.add(segmentName(file.timeline, file.segNo! + i, this.segmentSize));
    await this.sweep(dir, file, wanted);
    for (const name of wanted) {
      if (this.inFlight.has(name)) continue;
      const target = join(dir, name);
      if (await stat(target).then(() => true, () => false)) continue;
      // Holes are not looked for ahead: the request for that segment does, and answers for it.
      const work = fetchWalFile(this.archive, name, target, { ...this.options, holes: 'unchecked', segmentSize: this.segmentSize }).finally(() => this.inFlight.delete(name));
      this.inFlight.set(name, work);
      work.catch(() => undefined);
    }
  }

  /** Removes prefetched files recovery will not ask for: behind the current segment, or on another timeline. */
  private async sweep(dir: string, current: WalFileName, wanted: ReadonlySet<string>): Promise<void> {
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      if (wanted.has(entry) || this.inFlight.has(entry)) continue;
      // Temp files of downloads under way: theirs to publish or remove.
      if (entry.startsWith('.') && this.inFlight.size > 0) continue;
      let keep = false;
      try {
        const f = parseWalFileName(entry, this.segmentSize);
        keep = f.kind === 'segment' && f.timeline === current.timeline && f.segNo! > current.segNo!;
      } catch {
        // Temp files of interrupted downloads, or anything else: not ours to keep.
      }
      if (!keep) await rm(join(dir, entry), { force: true });
    }
  }

  /** Waits for prefetches under way, then removes the prefetch directory beside dest's. */
  async close(pgWalDir?: string): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
    if (pgWalDir) await rm(join(pgWalDir, PREFETCH_DIR), { recursive: true, force: true });
  }
}
