import { join } from 'node:path';

// Where everything lives inside the spool directory; the client
// (bin/walship-client) spells the same names in sh, so change both at once.
//
//   req/<id>.req      a request waiting to be claimed (perhaps still being
//                     written: complete once it ends with an empty line)
//   req/<id>.work     a request the agent has claimed and is serving
//   resp/<id>         the FIFO the client waits on for its answer
//
// Hidden names are temporary files, never requests or answers (older
// clients wrote requests under one and renamed them).

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

export function spoolLayout(dir: string): SpoolLayout {
  return { dir, reqDir: join(dir, 'req'), respDir: join(dir, 'resp') };
}

export function isTempName(name: string): boolean {
  return name.startsWith('.');
}

/** The id in a visible `<id><suffix>` name in req/, or undefined for any other name. */
export function idFromName(name: string, suffix: string): string | undefined {
  if (isTempName(name) || !name.endsWith(suffix) || name.length === suffix.length) return undefined;
  return name.slice(0, -suffix.length);
}

export const queuedPath = (layout: SpoolLayout, id: string): string => join(layout.reqDir, id + QUEUED_SUFFIX);
export const claimedPath = (layout: SpoolLayout, id: string): string => join(layout.reqDir, id + CLAIMED_SUFFIX);
export const answerPath = (layout: SpoolLayout, id: string): string => join(layout.respDir, id);
