import type { Readable } from 'node:stream';
import { readParts, type Part } from './parts.ts';

// One upload algorithm for every store that takes bodies in parts: a body
// that fits in one part goes up in a single request; a larger one goes up
// part by part with a few parts in flight, and a failure anywhere stops the
// rest and abandons the upload, so nothing half-written becomes visible.

/** What a store must do to take a body in parts. Every method honours its signal. */
export interface PartSink<Receipt> {
  /** Stores a body that fit in the first part, with a single request. */
  putWhole(data: Buffer, signal: AbortSignal): Promise<void>;
  /** Starts a multi-part upload (before the first part is sent). */
  begin(signal: AbortSignal): Promise<void>;
  putPart(part: Part, signal: AbortSignal): Promise<Receipt>;
  /** Makes the object visible from the parts' receipts, in part order. */
  complete(receipts: Receipt[], signal: AbortSignal): Promise<void>;
  /** Best effort clean-up after a failure, once begin() succeeded. Must not use the failed signal. */
  abandon(): Promise<void>;
}

export interface PartPlan {
  partSize(partNumber: number): number;
  /** Parts uploading at once. Memory is about (concurrency + 2) part sizes. */
  concurrency: number;
  signal?: AbortSignal;
  /**
   * Called as parts are stored and when completion starts: progress the
   * caller cannot see by watching the body, which is read ahead of the store.
   */
  onProgress?: () => void;
}

/**
 * Parts in flight per object: enough to fill a link, few enough that an
 * upload's memory stays near 100 MiB with 16 MiB parts however high the
 * configured upload concurrency (which also spreads across objects).
 */
const MAX_PARTS_IN_FLIGHT = 4;

export function partPlan(
  partSize: (partNumber: number) => number,
  uploadConcurrency: number,
  options: { signal?: AbortSignal; onProgress?: () => void },
): PartPlan {
  return {
    partSize,
    concurrency: Math.max(1, Math.min(MAX_PARTS_IN_FLIGHT, uploadConcurrency)),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  };
}

export async function uploadInParts<Receipt>(source: Readable, plan: PartPlan, sink: PartSink<Receipt>): Promise<void> {
  const stop = new AbortController();
  const onCallerAbort = () => stop.abort(plan.signal?.reason);
  if (plan.signal?.aborted) onCallerAbort();
  plan.signal?.addEventListener('abort', onCallerAbort, { once: true });
  // Stops reading, too: a stalled source would otherwise keep us waiting after an abort.
  stop.signal.addEventListener('abort', () => source.destroy(), { once: true });

  const inFlight = new Set<Promise<void>>();
  const receipts: Receipt[] = [];
  let partFailure: { error: unknown } | undefined;
  let begun = false;
  try {
    for await (const part of readParts(source, plan.partSize)) {
      if (part.number === 1 && part.last) {
        await sink.putWhole(part.data, stop.signal);
        return;
      }
      if (!begun) {
        await sink.begin(stop.signal);
        begun = true;
      }
      const task: Promise<void> = sink.putPart(part, stop.signal).then(
        (receipt) => {
          receipts[part.number - 1] = receipt;
          part.release();
          plan.onProgress?.();
        },
        (error: unknown) => {
          partFailure ??= { error };
          stop.abort(error);
        },
      );
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      while (inFlight.size >= Math.max(1, plan.concurrency)) await Promise.race(inFlight);
      if (partFailure) throw partFailure.error;
    }
    await Promise.all(inFlight);
    if (partFailure) throw partFailure.error;
    plan.onProgress?.();
    await sink.complete(receipts, stop.signal);
  } catch (err) {
    // A failed part aborts the rest and destroys the source; report the part's
    // error, not the "stream destroyed" it causes downstream.
    const cause = partFailure ? partFailure.error : err;
    stop.abort(cause);
    await Promise.allSettled(inFlight);
    if (begun) await sink.abandon().catch(() => undefined);
    throw cause;
  } finally {
    plan.signal?.removeEventListener('abort', onCallerAbort);
    // Release the producer even when the store answered before the body ended
    // (e.g. put-if-absent refused a large body early).
    if (!source.destroyed) source.destroy();
  }
}
