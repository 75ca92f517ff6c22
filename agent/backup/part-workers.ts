import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { WalshipError, errorFromTransfer } from '../errors.ts';
import { threadReclaimer } from '../util/reclaim.ts';
import type { FromWorker, PackRequest, ToWorker } from './part-messages.ts';
import type { PackResult } from './part-pack.ts';
import type { UnpackFindings, UnpackOptions } from './part-unpack.ts';

// The main thread's side of the part workers: a thread per core, so that
// reading, hashing, tar and compression (or their reverse) of different
// parts run in parallel on every core, while the main thread only moves
// compressed bytes between the workers and the store.

/** Compressed chunks a restore may have sent to its worker before the worker has written them out. */
const UNPACK_WINDOW = 4;
/**
 * Chunks are cut to this size on their way to a worker: a piece is decoded
 * (to about ten times its size) before the worker's next young-generation
 * collection, so it dies young instead of waiting for a full collection.
 */
const UNPACK_PIECE = 256 << 10;

// Workers load the same kind of file as this one: .ts under the test
// runner's type stripping, .js in the built package.
const WORKER_URL = new URL(`./part-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

type Handler = (message: FromWorker) => void;

export class PartWorker {
  readonly #thread: Worker;
  readonly #handlers = new Map<number, Handler>();
  #nextJob = 1;
  #dead: Error | undefined;
  /** The compressed bytes passing through the main thread are its garbage: collected as they go. */
  readonly #reclaimer = threadReclaimer;

  constructor() {
    // Small young generation: the worker's own garbage is small buffers and
    // headers, and a large nursery only adds resident memory.
    this.#thread = new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    this.#thread.on('message', (message: FromWorker) => this.#handlers.get(message.job)?.(message));
    const die = (err: Error) => {
      this.#dead ??= err;
      for (const [job, handler] of this.#handlers) handler({ kind: 'failed', job, error: { message: err.message, code: 'INTERNAL' } });
    };
    this.#thread.on('error', (err) => die(new WalshipError('INTERNAL', `a part worker failed: ${err.message}`, { cause: err })));
    this.#thread.on('exit', (code) => die(new WalshipError('INTERNAL', `a part worker exited (code ${code})`)));
  }

  /**
   * A backup part as a stream of compressed (or, for 'none', plain) tar
   * bytes; result settles once the worker has read every file. Destroying
   * the stream cancels the job.
   */
  pack(request: PackRequest, onDataBytes: (n: number) => void): { stream: Readable; result: Promise<PackResult> } {
    const job = this.#nextJob++;
    let owed = 0;
    let settled = false;
    let resolve!: (r: PackResult) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<PackResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    result.catch(() => undefined);
    const stream = new Readable({
      read: () => {
        if (owed > 0) this.#post({ kind: 'credit', job, n: owed });
        owed = 0;
      },
      destroy: (err, callback) => {
        this.#handlers.delete(job);
        if (!settled) {
          settled = true;
          this.#postIfAlive({ kind: 'cancel', job });
          reject(err ?? new WalshipError('INTERNAL', 'backup part stream closed early'));
        }
        callback(err);
      },
    });
    this.#handlers.set(job, (message) => {
      switch (message.kind) {
        case 'batch':
          onDataBytes(message.dataBytes);
          this.#reclaimer.note(message.data.byteLength);
          this.#reclaimer.collectIfDue();
          if (stream.push(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))) this.#post({ kind: 'credit', job, n: 1 });
          else owed++;
          return;
        case 'packed':
          settled = true;
          this.#handlers.delete(job);
          resolve(message.result);
          stream.push(null);
          return;
        case 'failed': {
          settled = true;
          this.#handlers.delete(job);
          const err = errorFromTransfer(message.error);
          reject(err);
          stream.destroy(err);
          return;
        }
      }
    });
    this.#post({ kind: 'pack', job, request });
    return { stream, result };
  }

  /** Unpacks a part from its (decrypted) stored bytes; resolves once every wanted file is in place (or, verifying, checked). */
  async unpack(options: UnpackOptions, source: Readable, onBytes: (n: number) => void): Promise<UnpackFindings> {
    const job = this.#nextJob++;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    let failure: { error: Error } | undefined;
    let findings: UnpackFindings | undefined;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    this.#handlers.set(job, (message) => {
      if (message.kind === 'consumed') {
        inFlight--;
        onBytes(message.bytes);
      } else if (message.kind === 'unpacked') {
        onBytes(message.bytes);
        findings = message.findings;
        resolveDone();
      } else if (message.kind === 'failed') {
        failure ??= { error: errorFromTransfer(message.error) };
        resolveDone();
      }
      wake?.();
    });
    this.#post({ kind: 'unpack', job, options });
    let sourceError: unknown;
    try {
      read: for await (const chunk of source) {
        const bytes = chunk as Uint8Array;
        for (let at = 0; at < bytes.byteLength; at += UNPACK_PIECE) {
          while (inFlight >= UNPACK_WINDOW && !failure) await new Promise<void>((resolve) => (wake = resolve));
          if (failure) break read;
          inFlight++;
          // A copy of its own, transferred: cloning a view would copy the whole buffer behind it.
          // (Uint8Array's slice copies; Buffer's would not.)
          const data = Uint8Array.prototype.slice.call(bytes, at, at + UNPACK_PIECE);
          this.#post({ kind: 'chunk', job, data }, [data.buffer as ArrayBuffer]);
        }
        this.#reclaimer.note(bytes.byteLength);
        this.#reclaimer.collectIfDue();
      }
      if (!failure) this.#post({ kind: 'finish', job });
    } catch (err) {
      sourceError = err;
      this.#postIfAlive({ kind: 'cancel', job });
    }
    if (failure) source.destroy();
    await done;
    this.#handlers.delete(job);
    // The source's own error (an integrity failure at the end of an encrypted part) says most.
    if (sourceError !== undefined) throw sourceError;
    if (failure) throw failure.error;
    return findings!;
  }

  async sha256(path: string): Promise<{ sha256: string; size: number }> {
    const job = this.#nextJob++;
    return new Promise((resolve, reject) => {
      this.#handlers.set(job, (message) => {
        this.#handlers.delete(job);
        if (message.kind === 'hashed') resolve({ sha256: message.sha256, size: message.size });
        else if (message.kind === 'failed') reject(errorFromTransfer(message.error));
      });
      this.#post({ kind: 'hash', job, path });
    });
  }

  async terminate(): Promise<void> {
    this.#dead ??= new WalshipError('INTERNAL', 'part worker stopped');
    this.#thread.removeAllListeners('exit');
    await this.#thread.terminate();
  }

  #post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.#dead) throw this.#dead;
    this.#thread.postMessage(message, transfer);
  }

  /** For clean-up messages: a dead worker has nothing left to clean up. */
  #postIfAlive(message: ToWorker): void {
    if (!this.#dead) this.#thread.postMessage(message);
  }
}

/**
 * Part workers shared by up to `jobs` jobs at a time, on no more threads
 * than there are cores: a thread beyond that only adds memory (an isolate,
 * a heap, buffers), as its work cannot run any sooner. Jobs on one thread
 * take turns at each batch of bytes. A job goes to the thread with the
 * least work (by the weight callers give, in bytes): counting jobs instead
 * put small parts beside a 1 GiB segment's, on the thread that finishes
 * last. Threads start as they are first needed, or all at once on start().
 */
export class PartWorkers {
  readonly #threads: number;
  readonly #jobs: number;
  readonly #all: { worker: PartWorker; load: number }[] = [];
  readonly #waiting: (() => void)[] = [];
  #running = 0;

  constructor(jobs: number, threads = availableParallelism()) {
    this.#jobs = Math.max(1, jobs);
    this.#threads = Math.max(1, Math.min(this.#jobs, threads));
  }

  /** Runs task on a worker, once fewer than `jobs` tasks are running; weight: the task's work, e.g. its bytes. */
  async use<T>(task: (worker: PartWorker) => Promise<T>, weight = 1): Promise<T> {
    while (this.#running >= this.#jobs) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running++;
    const slot = this.#leastLoaded();
    slot.load += weight;
    try {
      return await task(slot.worker);
    } finally {
      slot.load -= weight;
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /**
   * Starts every thread now: a thread takes about 100 ms to load, which a
   * caller hides behind work of its own (a checkpoint, reading a manifest).
   */
  start(): this {
    while (this.#all.length < this.#threads) this.#all.push({ worker: new PartWorker(), load: 0 });
    return this;
  }

  async close(): Promise<void> {
    await Promise.all(this.#all.splice(0).map((s) => s.worker.terminate()));
  }

  #leastLoaded(): { worker: PartWorker; load: number } {
    const idle = this.#all.find((s) => s.load === 0);
    if (idle) return idle;
    if (this.#all.length < this.#threads) {
      const slot = { worker: new PartWorker(), load: 0 };
      this.#all.push(slot);
      return slot;
    }
    return this.#all.reduce((a, b) => (b.load < a.load ? b : a));
  }
}
