import { lstat, readdir, rm } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { claimedPath, isTempName, queuedPath, slotClaimPath, slotPath, slotTokenFromName, type SpoolLayout } from './layout.ts';
import { isMissing, spoolIoError } from './fs-errors.ts';

// Removes what nobody will ever come back for: answer channels (FIFOs) of
// clients that were killed before they could remove them, temp files of
// writers that died midway, and what dead clients left of answer slots.
// Requests themselves are never swept: a queued one is served as soon as an
// agent runs, a claimed one is being served (or is served again at the next
// start-up). Unclaimed slots are kept whatever their age: they are the pool.

/**
 * A slot's claim without the slot's FIFO is dead at once: the FIFO goes
 * before the claim, so the claim is one a client made after the slot was
 * served and retired (its re-check then failed), or one left midway. The
 * wait is only a margin.
 */
const ORPHAN_CLAIM_MS = 60_000;

export async function sweepStale(layout: SpoolLayout, maxAgeMs: number, onError: (err: unknown) => void): Promise<void> {
  const cutoff = Date.now() - maxAgeMs;
  const remove = async (path: string) => {
    try {
      await rm(path, { force: true });
    } catch (err) {
      onError(spoolIoError(`cannot sweep ${path}`, err));
    }
  };
  const list = async (dir: string) => {
    try {
      return await readdir(dir);
    } catch (err) {
      onError(spoolIoError(`cannot list ${dir} to sweep it`, err));
      return [];
    }
  };
  const stats = async (path: string): Promise<Stats | undefined> => {
    try {
      return await lstat(path);
    } catch (err) {
      if (!isMissing(err)) onError(spoolIoError(`cannot sweep ${path}`, err));
      return undefined;
    }
  };

  for (const name of (await list(layout.reqDir)).filter(isTempName)) {
    const path = join(layout.reqDir, name);
    if (((await stats(path))?.mtimeMs ?? Infinity) < cutoff) await remove(path);
  }
  const slotTokens = new Set<string>();
  for (const name of await list(layout.respDir)) {
    const token = slotTokenFromName(name);
    if (token !== undefined) {
      slotTokens.add(token);
      continue;
    }
    const path = join(layout.respDir, name);
    if (((await stats(path))?.mtimeMs ?? Infinity) < cutoff) await remove(path);
  }
  for (const token of slotTokens) await sweepSlot(layout, token, cutoff, { remove, stats });
}

interface SweepOps {
  remove(path: string): Promise<void>;
  stats(path: string): Promise<Stats | undefined>;
}

async function sweepSlot(layout: SpoolLayout, token: string, cutoff: number, { remove, stats }: SweepOps): Promise<void> {
  const slot = slotPath(layout, token);
  const claim = slotClaimPath(layout, token);
  const [fifo, claimed] = [await stats(slot), await stats(claim)];
  // A plain file: a client that reopened its slot just after the agent
  // retired it (see rearm in walship-client), then died before removing it.
  if (fifo !== undefined && !fifo.isFIFO() && fifo.mtimeMs < cutoff) await remove(slot);
  if (claimed === undefined) return;
  if (!fifo?.isFIFO()) {
    if (claimed.mtimeMs < Date.now() - ORPHAN_CLAIM_MS) await remove(claim);
    return;
  }
  // Claimed long ago and no request: the client died in between.
  if (claimed.mtimeMs < cutoff && !(await stats(queuedPath(layout, token))) && !(await stats(claimedPath(layout, token)))) {
    await remove(slot);
    await remove(claim);
  }
}
