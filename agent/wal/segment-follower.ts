import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Codec, GrowingEncoder } from '../codec/index.ts';
import { parseWalFileName, segmentName, type WalFileName } from './names.ts';
import { LONG_HEADER_BYTES, parseSegmentHeader } from './segment-header.ts';
import { inMemoryWal, readFully, type LocalWalFile } from './local-file.ts';
import { acquireSegmentBuffer, releaseSegmentBuffer } from './segment-buffers.ts';
import { createDigester } from './content-digest.ts';

// PostgreSQL marks a segment ready the moment it is finished, and its
// archiver asks for it at once, so archive_command would wait for the whole
// segment to be read, hashed and compressed. The follower does most of that
// while PostgreSQL is still writing the segment: it reads the pages that
// are final (a page is final once the page after it has been started,
// because WAL is written in order and a finished page is never rewritten),
// hashes them and feeds them to the encoder. When the segment is pushed,
// take() compares what it read with the finished file, byte for byte, and
// only encodes the last pages. Anything unexpected (a rewritten page after
// a crash, a recycled file holding old pages, another timeline) makes the
// comparison or the checks fail, and the push does the whole work itself:
// the follower can make a push faster, never different.

export interface PreEncoded {
  /** The finished file as read for the comparison, with its checksum. */
  file: LocalWalFile;
  encoded: Buffer;
}

export interface SegmentFollowerOptions {
  pollMs?: number;
  /**
   * Most bytes read per poll: a bound on how long one poll holds the event
   * loop (reading and hashing 1 MiB takes about a millisecond here), during
   * which a request in the spool waits.
   */
  readBytes?: number;
  /**
   * While true, the follower neither reads nor begins another segment. The
   * agent says so while it has a backlog of finished segments to upload:
   * the segment being written would be pushed long after the follower had
   * moved on, so following it would only cost a second hashing and
   * compression.
   */
  paused?: () => boolean;
}

interface Following {
  file: WalFileName;
  fd: number;
  segmentSize: number;
  blockSize: number;
  magic: number;
  start: bigint;
  /** The file's bytes as read: [0, done) are final, hashed and fed to the encoder. */
  cache: Buffer;
  done: number;
  hash: ReturnType<typeof createDigester>;
  /** Fed [0, done) of the cache as it becomes final. */
  encoder: GrowingEncoder;
  /** When a poll last found new final pages (or the follow began). */
  progressAt: number;
}

/** Idle this long, the segment may have ended early (a switch) or the timeline changed: look for another. */
const LOOK_AROUND_MS = 1000;
const SEGMENT_NAME = /^[0-9A-F]{24}$/;

export class SegmentFollower {
  readonly #dir: string;
  readonly #codec: Codec;
  readonly #pollMs: number;
  readonly #readBytes: number;
  readonly #paused: () => boolean;
  /** The segment being written and, until a push takes it, the one before: it is pushed just after the next begins. */
  #states: Following[] = [];
  #scannedAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(pgWalDir: string, codec: Codec, options: SegmentFollowerOptions = {}) {
    this.#dir = pgWalDir;
    this.#codec = codec;
    this.#pollMs = options.pollMs ?? 5;
    this.#readBytes = options.readBytes ?? 1 << 20;
    this.#paused = options.paused ?? (() => false);
  }

  start(): void {
    this.#timer = setInterval(() => this.poll(), this.#pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const state of this.#states.splice(0)) this.#release(state);
  }

  /** The segments followed, oldest first. */
  get following(): string[] {
    return this.#states.map((s) => s.file.name);
  }

  /** Reads what PostgreSQL has finished writing since the last poll. Never throws: following is an optimisation. */
  poll(now = Date.now()): void {
    if (this.#paused()) return;
    try {
      const current = this.#states.at(-1);
      if (current !== undefined && this.#advance(current)) {
        current.progressAt = now;
        return;
      }
      // No progress: the next segment may have begun.
      const next = current === undefined ? undefined : segmentName(current.file.timeline, current.file.segNo! + 1n, current.segmentSize);
      if (next !== undefined && this.#isBegun(next)) {
        this.#follow(next, now);
      } else if (now - this.#scannedAt >= LOOK_AROUND_MS && (current === undefined || now - current.progressAt >= LOOK_AROUND_MS)) {
        this.#scannedAt = now;
        const found = this.#newest();
        if (found !== undefined && !this.#states.some((s) => s.file.name === found)) this.#follow(found, now);
      }
      const latest = this.#states.at(-1);
      if (latest !== undefined && latest !== current && this.#advance(latest)) latest.progressAt = now;
    } catch {
      for (const state of this.#states.splice(0)) this.#release(state);
    }
  }

  /**
   * For a push of the finished segment `name` at `path`: the file, read, with
   * its hash and encoding, or undefined when the follower cannot vouch for
   * them. PostgreSQL waits for this, so the part not yet followed (the last
   * pages, or the rest of a segment ended early by a switch) is read first
   * and its compression starts at once; the pages followed earlier are read
   * again meanwhile and compared byte for byte with what was hashed.
   */
  async take(name: string, path: string): Promise<PreEncoded | undefined> {
    const state = this.#states.find((s) => s.file.name === name);
    if (state === undefined) return undefined;
    // From here on this segment is the push's; the poller moves on to the next.
    this.#states.splice(this.#states.indexOf(state), 1);
    closeSync(state.fd);
    let handle: FileHandle | undefined;
    let kept = false;
    try {
      handle = await open(path, 'r');
      const { done, segmentSize, cache } = state;
      if ((await handle.stat()).size !== segmentSize) return undefined;
      // Both reads at once, on two of libuv's threads: the tail goes to the
      // encoder as soon as it is in, and the comparison waits for both.
      const followed = acquireSegmentBuffer(segmentSize);
      const rereading = readFully(handle, followed, 0, done);
      let encoded: Buffer;
      try {
        if ((await readFully(handle, cache, done, segmentSize - done)) !== segmentSize - done) return undefined;
        const encoding = state.encoder.finish(segmentSize);
        encoding.catch(() => undefined);
        state.hash.update(cache.subarray(done, segmentSize));
        if ((await rereading) !== done || !followed.subarray(0, done).equals(cache.subarray(0, done))) return undefined;
        encoded = await encoding;
      } finally {
        // Never back to the pool while a read may still be writing into it.
        await rereading.catch(() => undefined);
        releaseSegmentBuffer(followed);
      }
      kept = true;
      return { file: inMemoryWal(cache, segmentSize, state.hash.digest()), encoded };
    } catch {
      return undefined;
    } finally {
      await handle?.close().catch(() => undefined);
      if (!kept) this.#discard(state);
    }
  }

  /** Whether a segment file exists and its first page is where its name says, i.e. PostgreSQL has begun writing it. */
  #isBegun(name: string): boolean {
    let fd: number;
    try {
      fd = openSync(join(this.#dir, name), 'r');
    } catch {
      return false;
    }
    try {
      const page = Buffer.alloc(LONG_HEADER_BYTES);
      if (readSync(fd, page, 0, LONG_HEADER_BYTES, 0) < LONG_HEADER_BYTES) return false;
      const header = parseSegmentHeader(page, name);
      return header.pageAddress === parseWalFileName(name, header.segmentSize).segNo! * BigInt(header.segmentSize);
    } catch {
      return false;
    } finally {
      closeSync(fd);
    }
  }

  /** The newest segment PostgreSQL has begun: newer names are preallocated or recycled files holding old pages. */
  #newest(): string | undefined {
    const names = readdirSync(this.#dir)
      .filter((n) => SEGMENT_NAME.test(n))
      .sort()
      .reverse();
    return names.find((n) => this.#isBegun(n));
  }

  #follow(name: string, now: number): void {
    while (this.#states.length >= 2) this.#release(this.#states.shift()!);
    const fd = openSync(join(this.#dir, name), 'r');
    try {
      const first = Buffer.alloc(LONG_HEADER_BYTES);
      readSync(fd, first, 0, LONG_HEADER_BYTES, 0);
      const header = parseSegmentHeader(first, name);
      const file = parseWalFileName(name, header.segmentSize);
      const cache = acquireSegmentBuffer(header.segmentSize);
      this.#states.push({
        file,
        fd,
        segmentSize: header.segmentSize,
        blockSize: header.blockSize,
        magic: first.readUInt16LE(0),
        start: header.pageAddress,
        cache,
        done: 0,
        hash: createDigester(),
        encoder: this.#codec.growingEncoder(cache),
        progressAt: now,
      });
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  #release(state: Following): void {
    closeSync(state.fd);
    this.#discard(state);
  }

  /**
   * Back to the pool at once: a discarded encoder that is still compressing
   * from the cache only reads it, and its output is thrown away.
   */
  #discard(state: Following): void {
    state.encoder.abandon();
    releaseSegmentBuffer(state.cache);
  }

  #pageIsWritten(state: Following, buffer: Buffer, at: number, offset: number): boolean {
    return buffer.readUInt16LE(at) === state.magic && buffer.readBigUInt64LE(at + 8) === state.start + BigInt(offset);
  }

  /** Reads new final pages; true if there were any. */
  #advance(state: Following): boolean {
    const { blockSize, segmentSize } = state;
    // Nothing new is final until the page after the last final one is started: one small read says.
    const probeAt = state.done + blockSize;
    if (probeAt >= segmentSize) return false; // the last page: final only with the finished file, in take()
    const probe = state.cache.subarray(probeAt, probeAt + 16);
    if (readSync(state.fd, probe, 0, 16, probeAt) < 16 || !this.#pageIsWritten(state, probe, 0, probeAt)) return false;

    const length = Math.min(this.#readBytes, segmentSize - state.done);
    const read = readSync(state.fd, state.cache, state.done, length, state.done);
    let written = state.done;
    while (written + blockSize <= state.done + read && this.#pageIsWritten(state, state.cache, written, written)) written += blockSize;
    // The last page written may still be filling up.
    const final = written - blockSize;
    if (final <= state.done) return false;
    const pages = state.cache.subarray(state.done, final);
    state.hash.update(pages);
    state.done = final;
    state.encoder.advance(final);
    return true;
  }
}
