import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// Prompt collection of dropped buffers, for threads that move a lot of
// bytes but allocate little else. V8 lets up to 64 MiB of dead array
// buffers pile up per thread before it collects, and lz4-napi's output
// buffers it does not count at all: their memory is freed by finalizers
// that run only once V8 has collected the buffer objects and the event
// loop has turned. Measured: a worker decoding 256 KiB LZ4 frames in a
// loop grew past 1 GB of RSS; with a young-generation collection every
// 8 MiB and a turn of the event loop it stayed near 75 MB. Mostly the young
// generation is collected: callers keep buffers short-lived.

/** Buffer bytes dropped between two collections. */
const COLLECT_EVERY_BYTES = 8 << 20;

type GcFunction = (options: { type: 'minor' | 'major' }) => void;
let gc: GcFunction | undefined;

/** The engine's gc(), which Node exposes only with --expose-gc: set here, it shows in contexts made from now on. */
function collector(): GcFunction {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as GcFunction;
  }
  return gc;
}

/**
 * Every so many collections a full one: what survives two young collections
 * (input a frame straddles, frames in flight) is promoted, and V8 lets up to
 * 64 MiB of dead promoted buffers pile up per thread before it collects the
 * old generation itself (restoring 2.2 GiB: 287 MiB peak RSS without this).
 * Every fourth was measurably too costly in CPU (V8 helper threads +0.5 s).
 */
const FULL_EVERY = 16;

export class Reclaimer {
  #since = 0;
  #collections = 0;

  /** Records bytes of buffers that are now, or soon, garbage. */
  note(bytes: number): void {
    this.#since += bytes;
  }

  get due(): boolean {
    return this.#since >= COLLECT_EVERY_BYTES;
  }

  /** Collects the young generation if enough was dropped since the last time. */
  collectIfDue(): void {
    if (this.due) this.#collect();
  }

  /** Collects, then lets the finalizers of native buffers run. */
  async reclaim(): Promise<void> {
    this.#collect();
    await nextTurn();
  }

  #collect(): void {
    this.#since = 0;
    collector()({ type: ++this.#collections % FULL_EVERY === 0 ? 'major' : 'minor' });
  }
}

/**
 * This thread's reclaimer (module state is per thread). Shared by every job
 * on the thread: garbage piles up per thread, so a reclaimer per job let
 * it grow with the number of jobs (measured: +15-25 MiB for a second job).
 */
export const threadReclaimer = new Reclaimer();
