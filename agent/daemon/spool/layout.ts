import { join } from 'node:path';

// Where everything lives inside the spool directory; the client
// (bin/walship-client) spells the same names in sh, so change both at once.
//
//   req/<id>.req        a request waiting to be claimed (perhaps still being
//                       written: complete once it ends with an empty line)
//   req/<id>.work       a request the agent has claimed and is serving
//   resp/<id>           the FIFO a client made itself to wait on for its
//                       answer (its fallback when no slot is free)
//   resp/<token>.slot   an answer FIFO the agent made ahead of time (a slot),
//                       so that the client needs no mkfifo (see slots.ts)
//   resp/<token>.claim  made exclusively by the one client that took the
//                       slot <token>; its request is req/<token>.req
//
// A client's own id is its pid, $$, or $$.N: it begins with a digit. A slot
// token begins with a letter and holds only letters and digits, so the two
// never meet, and the id alone says where the answer goes.
//
// Hidden names are temporary files, never requests or answers (older
// clients wrote requests under one and renamed them; the agent makes slots
// under one and renames them into place once they are ready).

export interface Owner {
  uid: number;
  gid: number;
}

export interface SpoolLayout {
  readonly dir: string;
  readonly reqDir: string;
  readonly respDir: string;
}

export const QUEUED_SUFFIX = '.req';
export const CLAIMED_SUFFIX = '.work';
export const SLOT_SUFFIX = '.slot';
export const SLOT_CLAIM_SUFFIX = '.claim';

export function spoolLayout(dir: string): SpoolLayout {
  return { dir, reqDir: join(dir, 'req'), respDir: join(dir, 'resp') };
}

export function isTempName(name: string): boolean {
  return name.startsWith('.');
}

/** Whether a request id names an answer slot made by the agent, rather than a FIFO the client made. */
export function isSlotToken(id: string): boolean {
  return /^[a-z][a-z0-9]*$/.test(id);
}

/** The id in a visible `<id><suffix>` name in req/, or undefined for any other name. */
export function idFromName(name: string, suffix: string): string | undefined {
  if (isTempName(name) || !name.endsWith(suffix) || name.length === suffix.length) return undefined;
  return name.slice(0, -suffix.length);
}

/** The token in a `<token>.slot` or `<token>.claim` name in resp/, or undefined for any other name. */
export function slotTokenFromName(name: string): string | undefined {
  const token = idFromName(name, SLOT_SUFFIX) ?? idFromName(name, SLOT_CLAIM_SUFFIX);
  return token !== undefined && isSlotToken(token) ? token : undefined;
}

export const queuedPath = (layout: SpoolLayout, id: string): string => join(layout.reqDir, id + QUEUED_SUFFIX);
export const claimedPath = (layout: SpoolLayout, id: string): string => join(layout.reqDir, id + CLAIMED_SUFFIX);
export const slotPath = (layout: SpoolLayout, token: string): string => join(layout.respDir, token + SLOT_SUFFIX);
export const slotClaimPath = (layout: SpoolLayout, token: string): string => join(layout.respDir, token + SLOT_CLAIM_SUFFIX);
/** The FIFO a client made itself for the answer to request id (a slot's is slotPath). */
export const answerPath = (layout: SpoolLayout, id: string): string => join(layout.respDir, id);
