// Segment-sized buffers kept from one push to the next. A fresh 16 MiB
// buffer per segment costs a page fault per 4 KiB on first touch, and their
// churn alone cost the agent a full garbage collection every other segment.
// They are shared memory, so that a worker thread can hash them without a
// copy.

const POOL_LIMIT = 8;
const pool: Buffer[] = [];

/** A buffer of at least size bytes (its length may be larger). */
export function acquireSegmentBuffer(size: number): Buffer {
  const i = pool.findIndex((b) => b.length >= size);
  return i >= 0 ? pool.splice(i, 1)[0]! : Buffer.from(new SharedArrayBuffer(size));
}

/** Only once nothing can still be reading or writing it. */
export function releaseSegmentBuffer(buffer: Buffer): void {
  if (pool.length < POOL_LIMIT && buffer.buffer instanceof SharedArrayBuffer) pool.push(buffer);
}
