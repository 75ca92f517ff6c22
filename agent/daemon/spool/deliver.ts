import { closeSync, constants, fstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { isMissing } from './fs-errors.ts';

// Hands an answer to the client through the FIFO it is blocked reading: one
// it made at resp/<id>, or the slot it claimed (slots.ts). Synchronous on
// purpose: these are a handful of microsecond system calls on a local
// volume, and going through libuv's thread pool would queue them behind the
// compression and file work of uploads in flight, while PostgreSQL waits.
//
// The open does not block: O_NONBLOCK on a FIFO's write end fails with
// ENXIO when nobody reads it (the client gave up or died). An answer fits in
// one write of at most PIPE_BUF bytes, which a pipe takes whole or not at all.

/** Linux's PIPE_BUF: writes up to this size are atomic. */
export const MAX_ANSWER_BYTES = 4096;

export type Delivery = 'delivered' | 'no-reader' | 'no-channel';

export function deliverAnswer(path: string, answer: Buffer): Delivery {
  if (answer.length > MAX_ANSWER_BYTES) throw new Error(`an answer of ${answer.length} bytes does not fit in one pipe write`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    if (isMissing(err)) return 'no-channel';
    if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    removeChannel(path);
    return 'no-reader';
  }
  try {
    if (!fstatSync(fd).isFIFO()) throw new Error(`${path} is not a FIFO: not an answer channel`);
    const written = writeSync(fd, answer);
    if (written !== answer.length) throw new Error(`short write to ${path}: ${written} of ${answer.length} bytes`);
  } finally {
    closeSync(fd);
  }
  // The client holds its end open: it reads the answer after the name is gone.
  removeChannel(path);
  return 'delivered';
}

function removeChannel(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}
