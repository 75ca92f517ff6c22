import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spoolIoError } from './fs-errors.ts';
import { idFromName, isSlotToken, SLOT_CLAIM_SUFFIX, SLOT_SUFFIX, slotPath, type Owner, type SpoolLayout } from './layout.ts';

// Keeps a few answer slots (slots.ts) ready for clients to claim. Node
// cannot make a FIFO, so a batch costs one mkfifo process; it runs after an
// answer has gone out, never while a request waits for it. Without mkfifo
// (or when it fails) the agent says so once and clients make their own FIFO,
// as they did before slots existed; the periodic refresh tries again.

/**
 * The pool is filled up to SLOT_POOL_SIZE once fewer than SLOT_POOL_LOW are
 * left: one mkfifo for every ten requests or so (each costs the agent a
 * fork of its whole address space, copy-on-write faults included: about 3 %
 * of its CPU under a pgbench flood at one mkfifo per four requests), and
 * room for several calls of PostgreSQL's archiver, one after another, while
 * the refill (a few ms on a busy node) runs. With 4 and 2, about 1% of
 * back-to-back calls found the pool empty on a loaded two-core machine.
 */
export const SLOT_POOL_SIZE = 16;
export const SLOT_POOL_LOW = 6;
/** rw for the owner and the group, whatever the umask: the client may run as another uid sharing the group. */
const SLOT_MODE = '0660';

const run = promisify(execFile);

export interface SlotPool {
  /**
   * Called once a request has been answered: recounts the pool and refills
   * it in the background when it runs low. Recounted from the directory,
   * because the agent does not see every slot taken: a client that took its
   * request back, or died before writing it, used one up too.
   */
  served(): void;
  /** Recounts the pool from the directory and refills it, retrying after a failure: the periodic safety net. */
  refresh(): Promise<void>;
  /** Waits for a refill in progress; no more are started. Unclaimed slots stay for the next agent. */
  close(): Promise<void>;
}

/** Opens the pool and fills it (resolving once the first fill is done or has failed). */
export async function openSlotPool(layout: SpoolLayout, owner: Owner | undefined, onError: (err: unknown) => void): Promise<SlotPool> {
  const nextToken = tokenMaker();
  let failing = false;
  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;

  /** Slots nobody has claimed yet. */
  async function unclaimed(): Promise<number> {
    const names = await readdir(layout.respDir);
    const claimed = new Set(names.map((n) => idFromName(n, SLOT_CLAIM_SUFFIX)));
    return names.filter((name) => {
      const token = idFromName(name, SLOT_SUFFIX);
      return token !== undefined && isSlotToken(token) && !claimed.has(token);
    }).length;
  }

  /** One mkfifo for the whole batch, under hidden names, renamed into place once usable. */
  async function make(count: number): Promise<void> {
    const tokens = Array.from({ length: count }, nextToken);
    const temps = tokens.map((t) => join(layout.respDir, `.${t}${SLOT_SUFFIX}`));
    try {
      await run('mkfifo', ['-m', SLOT_MODE, '--', ...temps]);
      if (owner) await Promise.all(temps.map((p) => chown(p, owner.uid, owner.gid)));
      await Promise.all(tokens.map((t, i) => rename(temps[i]!, slotPath(layout, t))));
    } catch (err) {
      await Promise.all(temps.map((p) => rm(p, { force: true }).catch(() => undefined)));
      throw err;
    }
  }

  async function fill(): Promise<void> {
    try {
      const ready = await unclaimed();
      if (ready < SLOT_POOL_LOW && !closed) await make(SLOT_POOL_SIZE - ready);
      failing = false;
    } catch (err) {
      if (!failing) {
        onError(spoolIoError(`cannot make answer slots in ${layout.respDir} (clients make their own answer FIFO meanwhile; retried every minute)`, err));
      }
      failing = true;
    }
  }

  /** Runs fill, once at a time; a call while one runs makes it run once more. */
  function kick(): Promise<void> {
    if (closed) return running ?? Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fill();
        } while (again && !closed);
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  await kick();
  return {
    served() {
      // After a failure, only the periodic refresh tries again: not one mkfifo per request.
      if (!failing) void kick();
    },
    refresh: kick,
    async close() {
      closed = true;
      await running;
    },
  };
}

/**
 * Tokens unique forever, not only in this process: slots outlive the agent
 * that made them. A fixed-length prefix (this start's time and a random
 * number) keeps two agents' tokens apart, and a counter keeps this one's.
 * Only lowercase letters and digits, beginning with a letter (layout.ts).
 */
function tokenMaker(): () => string {
  const prefix = 's' + Date.now().toString(36).padStart(9, '0') + randomBytes(4).readUInt32BE().toString(36).padStart(7, '0');
  let n = 0;
  return () => prefix + (n++).toString(36);
}
