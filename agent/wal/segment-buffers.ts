// Segment-sized buffers kept from one push to the next. A fresh 16 MiB
// buffer per segment costs a page fault per 4 KiB on first touch, and their
// churn alone cost the agent a full garbage collection every other segment.
// They are shared memory, so that a worker thread can hash them without a
// copy.

const POOL_LIMIT = 8;
const pool: Buffer[] = [];

/**
 * A buffer of at least size bytes (its length may be larger): the smallest
 * pooled one that fits, so that a history file or a part of a segment does
 * not take a whole segment's buffer from the next push.
 */
export function acquireSegmentBuffer(size: number): Buffer {
  let best = -1;
  for (let i = 0; i < pool.length; i++) if (pool[i]!.length >= size && (best < 0 || pool[i]!.length < pool[best]!.length)) best = i;
  return best >= 0 ? pool.splice(best, 1)[0]! : Buffer.from(new SharedArrayBuffer(size));
}

/**
 * Only once nothing can still be reading or writing it. A full pool keeps
 * its largest buffers: small ones left by small files would otherwise fill
 * it, and every segment would again get a fresh buffer.
 */
export function releaseSegmentBuffer(buffer: Buffer): void {
  if (!(buffer.buffer instanceof SharedArrayBuffer)) return;
  if (pool.length < POOL_LIMIT) {
    pool.push(buffer);
    return;
  }
  let smallest = 0;
  for (let i = 1; i < pool.length; i++) if (pool[i]!.length < pool[smallest]!.length) smallest = i;
  if (pool[smallest]!.length < buffer.length) pool[smallest] = buffer;
}
