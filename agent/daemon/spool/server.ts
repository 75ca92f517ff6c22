import { readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { WalshipError } from '../../errors.ts';
import { openInbox } from './inbox.ts';
import { answerPath, CLAIMED_SUFFIX, claimedPath, idFromName, isSlotToken, QUEUED_SUFFIX, queuedPath, spoolLayout, type Owner } from './layout.ts';
import { isMissing, spoolIoError } from './fs-errors.ts';
import { prepareSpoolDirs } from './prepare.ts';
import { deliverAnswer, MAX_ANSWER_BYTES } from './deliver.ts';
import { openSlotPool } from './slot-pool.ts';
import { answerThroughSlot, isSlotClaimed } from './slots.ts';
import { sweepStale } from './sweep.ts';
import { TaskLimiter } from './task-limiter.ts';
import { answerForError, checkedAnswer, formatAnswer, isCompleteRequest, parseRequest } from './wire.ts';

// The agent's end of the spool: how PostgreSQL's archive_command and
// restore_command (bin/walship-client, a POSIX sh script in the postgres
// container, which has no Node.js) reach the walship agent in the sidecar
// container. The two share only a volume, so requests are files and each
// hand-over is decided by one atomic operation; answers go through a FIFO
// the client blocks on, so it wakes the moment its answer is written:
//
//   client: claims a FIFO the agent made ahead of time, resp/<token>.slot,
//           and takes <token> as its id (slots.ts), or failing that makes
//           the FIFO resp/<id> itself; opens it, writes req/<id>.req (an
//           empty last line marks it complete)
//   agent:  reads it and, once it is complete, claims it by renaming it to
//           req/<id>.work (the client now knows an agent is alive and
//           serving), calls the handler, writes the answer into the FIFO,
//           removes the FIFO (and a slot's claim file) and only then
//           req/<id>.work
//   client: reads the answer, prints its message to stderr, exits with its
//           code
//
// A client that sees no claim within its pickup timeout withdraws the
// request by unlinking <id>.req: if that fails, the agent renamed it first
// and the client waits for the answer. Requests are claimed as soon as they
// are complete, even beyond the concurrency limit, because the claim is what
// tells the client the agent is alive; they then wait their turn here.
// Requests left queued while no agent ran, and requests claimed by an agent
// that died before answering (every op is idempotent), are served at
// start-up. The small file operations here are synchronous, for the reason
// given in deliver.ts. Formats are in wire.ts, names in layout.ts; how a
// slot is claimed, answered and retired is in slots.ts.

export interface SpoolRequest {
  id: string;
  op: string;
  args: string[];
  /** From the client's last write of the request to the handler's call: time spent reaching the agent. */
  queuedMs?: number;
}

export interface SpoolResponse {
  exitCode: number;
  message?: string;
}

export type SpoolHandler = (req: SpoolRequest) => Promise<SpoolResponse>;

export interface SpoolServer {
  readonly dir: string;
  /** Stops taking new requests and resolves once every claimed one is answered. */
  close(): Promise<void>;
}

export interface SpoolServerOptions {
  dir: string;
  handler: SpoolHandler;
  /** Owner of the spool directories and answers, when the client runs as another user (a root agent, a postgres client). */
  owner?: Owner;
  /** Requests served at once; more wait, claimed. */
  concurrency?: number;
  onError?: (err: unknown) => void;
}

const DEFAULT_CONCURRENCY = 4;
/** The safety net behind inotify: how late a request can be noticed if its event is lost. */
const RESCAN_MS = 200;
/**
 * Answer channels, slots claimed for a request that never came, and temp
 * files older than this were abandoned: a client waits 10 s for pickup and
 * 10 min for its answer by default, and a FIFO's time does not move while
 * it waits.
 */
const STALE_AFTER_MS = 30 * 60_000;
const SWEEP_EVERY_MS = 60_000;
/**
 * How long a request may stay half written: the client writes it with one
 * printf right after creating it, so only a client that died in between
 * leaves one for longer.
 */
const INCOMPLETE_REQUEST_MS = 2000;

export async function startSpoolServer(options: SpoolServerOptions): Promise<SpoolServer> {
  const { dir, handler, owner } = options;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new WalshipError('INTERNAL', `spool server concurrency must be a positive integer, not ${concurrency}`);
  }
  const onError = options.onError ?? ((err: unknown) => process.emitWarning(err instanceof Error ? err : String(err)));
  const layout = spoolLayout(dir);
  await prepareSpoolDirs(layout, owner);
  await sweepStale(layout, STALE_AFTER_MS, onError);
  const slots = await openSlotPool(layout, owner, onError);

  const limiter = new TaskLimiter(concurrency);
  /** Ids claimed and not yet answered: a second report of the same name is ignored. */
  const active = new Set<string>();
  let closed = false;

  /** The request as the client wrote it, with how long it waited since its last write. */
  function received(id: string, bytes: Buffer, writtenMs: number | undefined): SpoolRequest {
    const request = parseRequest(id, bytes);
    return writtenMs === undefined ? request : { ...request, queuedMs: Math.max(0, Date.now() - writtenMs) };
  }

  async function answer(read: () => SpoolRequest): Promise<Buffer> {
    let response: SpoolResponse;
    try {
      response = checkedAnswer(await handler(read()));
    } catch (err) {
      response = answerForError(err);
    }
    return formatAnswer(response, MAX_ANSWER_BYTES);
  }

  async function serve(id: string, read: () => SpoolRequest) {
    const reply = await answer(read);
    try {
      // A client that gave up or died leaves no reader: there is no one to tell.
      if (isSlotToken(id)) answerThroughSlot(layout, id, reply);
      else deliverAnswer(answerPath(layout, id), reply);
    } catch (err) {
      onError(spoolIoError(`cannot answer spool request ${id}`, err));
    }
    try {
      rmSync(claimedPath(layout, id), { force: true });
    } catch (err) {
      onError(spoolIoError(`cannot remove the served spool request ${id}`, err));
    }
    active.delete(id);
    slots.served();
  }

  /**
   * Whether request id names a slot that no client holds: not made through
   * a claimed slot, or taken back by its client. Nobody could hear its
   * answer, and a slot must never answer a request its client did not make
   * (slots.ts), so it is removed unserved.
   */
  function refusedUnclaimed(id: string, path: string): boolean {
    if (!isSlotToken(id)) return false;
    try {
      if (isSlotClaimed(layout, id)) return false;
    } catch (err) {
      onError(spoolIoError(`cannot check the answer slot of spool request ${id} (not served)`, err));
      return true;
    }
    try {
      rmSync(path, { force: true });
    } catch (err) {
      onError(spoolIoError(`cannot remove spool request ${id}, which names an answer slot no client holds`, err));
      return true;
    }
    onError(new WalshipError('USAGE', `spool request ${id} names the answer slot ${id}, which no client holds (taken back, or not written by walship-client): removed unserved`));
    return true;
  }

  // A request is read before it is claimed, and claimed only once complete:
  // the client creates the file and then writes it, so the first event may
  // come too early, and the write brings another. One that stays incomplete
  // (its client died in between) is claimed after a while and answered as
  // malformed, to clear it away.
  function claim(name: string) {
    const id = idFromName(name, QUEUED_SUFFIX);
    if (id === undefined || closed || active.has(id)) return;
    const queued = queuedPath(layout, id);
    let bytes: Buffer;
    let writtenMs: number | undefined;
    try {
      bytes = readFileSync(queued);
      writtenMs = statSync(queued).mtimeMs;
    } catch (err) {
      // Missing: withdrawn by its client, or claimed already.
      if (!isMissing(err)) onError(spoolIoError(`cannot read spool request ${id}`, err));
      return;
    }
    if (!isCompleteRequest(bytes) && Date.now() - writtenMs < INCOMPLETE_REQUEST_MS) return;
    if (refusedUnclaimed(id, queued)) return;
    active.add(id);
    try {
      renameSync(queued, claimedPath(layout, id));
    } catch (err) {
      active.delete(id);
      if (!isMissing(err)) onError(spoolIoError(`cannot claim spool request ${id}`, err));
      return;
    }
    limiter.run(() => serve(id, () => received(id, bytes, writtenMs)));
  }

  /** A request claimed by an agent that died before answering: its client may still be waiting. */
  function resume(id: string) {
    const path = claimedPath(layout, id);
    if (refusedUnclaimed(id, path)) return;
    active.add(id);
    limiter.run(() =>
      serve(id, () => {
        try {
          return received(id, readFileSync(path), undefined);
        } catch (err) {
          if (err instanceof WalshipError) throw err;
          throw spoolIoError(`cannot read spool request ${id}`, err);
        }
      }),
    );
  }

  // Claimed by an agent that died before answering: its client may still be waiting.
  for (const name of await readdir(layout.reqDir)) {
    const id = idFromName(name, CLAIMED_SUFFIX);
    if (id !== undefined && !active.has(id)) resume(id);
  }
  const inbox = await openInbox({ dir: layout.reqDir, rescanMs: RESCAN_MS, onName: claim, onError });
  let sweeping = Promise.resolve();
  const sweeper = setInterval(() => {
    sweeping = sweeping.then(() => sweepStale(layout, STALE_AFTER_MS, onError)).then(() => slots.refresh());
  }, SWEEP_EVERY_MS);

  return {
    dir,
    async close() {
      closed = true;
      inbox.close();
      clearInterval(sweeper);
      await limiter.idle();
      await sweeping;
      await slots.close();
    },
  };
}
