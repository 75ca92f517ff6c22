import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { WalshipError } from '../../errors.ts';
import { openInbox } from './inbox.ts';
import { answerPath, CLAIMED_SUFFIX, claimedPath, idFromName, QUEUED_SUFFIX, queuedPath, spoolLayout, type Owner } from './layout.ts';
import { isMissing, spoolIoError } from './fs-errors.ts';
import { ANSWER_FILE_MODE, prepareSpoolDirs } from './prepare.ts';
import { publishFile } from './publish.ts';
import { sweepStale } from './sweep.ts';
import { TaskLimiter } from './task-limiter.ts';
import { answerForError, checkedAnswer, formatAnswer, parseRequest } from './wire.ts';

// The agent's end of the spool: how PostgreSQL's archive_command and
// restore_command (bin/walship-client, a POSIX sh script in the postgres
// container, which has no Node.js) reach the walship agent in the sidecar
// container. The two share only a volume, so requests and answers are
// files, and every step is a rename, so that no side ever reads half a file
// and each hand-over is decided by one atomic operation:
//
//   client: writes req/.<id>.tmp, renames it to req/<id>.req
//   agent:  claims it by renaming it to req/<id>.work (the client now knows
//           an agent is alive and serving), reads it, calls the handler,
//           writes resp/.<id>.<random>.tmp, renames it to resp/<id>, and
//           only then removes req/<id>.work
//   client: sees resp/<id>, prints its message to stderr, removes it, exits
//           with its code
//
// A client that sees no claim within its pickup timeout withdraws the
// request by unlinking <id>.req: if that fails, the agent renamed it first
// and the client waits for the answer. Requests are claimed as soon as they
// are seen, even beyond the concurrency limit, because the claim is what
// tells the client the agent is alive; they then wait their turn here.
// Requests left queued while no agent ran, and requests claimed by an agent
// that died before answering (every op is idempotent), are served at
// start-up. File formats are in wire.ts, names in layout.ts.

export interface SpoolRequest {
  id: string;
  op: string;
  args: string[];
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
/** Answers and temp files older than this have been abandoned (clients wait at most 10 min by default). */
const STALE_AFTER_MS = 10 * 60_000;
const SWEEP_EVERY_MS = 60_000;

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

  const limiter = new TaskLimiter(concurrency);
  /** Ids claimed or being claimed and not yet answered: a second report of the same name is ignored. */
  const active = new Set<string>();
  const claims = new Set<Promise<void>>();
  let closed = false;

  async function readRequest(id: string): Promise<SpoolRequest> {
    let bytes: Buffer;
    try {
      bytes = await readFile(claimedPath(layout, id));
    } catch (err) {
      throw spoolIoError(`cannot read spool request ${id}`, err);
    }
    return parseRequest(id, bytes);
  }

  async function answer(id: string): Promise<SpoolResponse> {
    try {
      return checkedAnswer(await handler(await readRequest(id)));
    } catch (err) {
      return answerForError(err);
    }
  }

  async function serve(id: string) {
    try {
      await publishFile(answerPath(layout, id), formatAnswer(await answer(id)), { mode: ANSWER_FILE_MODE, owner });
    } catch (err) {
      // Removing <id>.work below tells the waiting client its request was dropped.
      onError(spoolIoError(`cannot answer spool request ${id}`, err));
    }
    try {
      await rm(claimedPath(layout, id), { force: true });
    } catch (err) {
      onError(spoolIoError(`cannot remove the served spool request ${id}`, err));
    }
    active.delete(id);
  }

  const enqueue = (id: string) => limiter.run(() => serve(id));

  function claim(name: string) {
    const id = idFromName(name, QUEUED_SUFFIX);
    if (id === undefined || closed || active.has(id)) return;
    active.add(id);
    const claiming = rename(queuedPath(layout, id), claimedPath(layout, id)).then(
      () => enqueue(id),
      (err: unknown) => {
        active.delete(id);
        // Missing: withdrawn by its client, or claimed already.
        if (!isMissing(err)) onError(spoolIoError(`cannot claim spool request ${id}`, err));
      },
    );
    claims.add(claiming);
    void claiming.finally(() => claims.delete(claiming));
  }

  // Claimed by an agent that died before answering: its client may still be waiting.
  for (const name of await readdir(layout.reqDir)) {
    const id = idFromName(name, CLAIMED_SUFFIX);
    if (id !== undefined && !active.has(id)) {
      active.add(id);
      enqueue(id);
    }
  }
  const inbox = await openInbox({ dir: layout.reqDir, rescanMs: RESCAN_MS, onName: claim, onError });
  let sweeping = Promise.resolve();
  const sweeper = setInterval(() => {
    sweeping = sweeping.then(() => sweepStale(layout, STALE_AFTER_MS, onError));
  }, SWEEP_EVERY_MS);

  return {
    dir,
    async close() {
      closed = true;
      inbox.close();
      clearInterval(sweeper);
      while (claims.size > 0) await Promise.all(claims);
      await limiter.idle();
      await sweeping;
    },
  };
}
