import { dirname } from 'node:path';
import { readRecoverySignals } from '../pg/recovery-signals.ts';
import type { HolePolicy } from './fetch.ts';

export interface HoleAnswer {
  holes: HolePolicy;
  /** Said in the warning when a hole is answered "not found". */
  why: string;
}

/**
 * How a hole is answered for a restore into dest (PostgreSQL's %p,
 * <PGDATA>/pg_wal/RECOVERYXLOG). A standby is answered "not found" whatever
 * the setting: PostgreSQL then tries streaming and asks again every few
 * seconds, and never promotes by itself, so "not found" loses nothing, while
 * a failure would shut the standby down when the segment is only late.
 */
export function holeAnswer(setting: HolePolicy, dest: string): HoleAnswer {
  if (readRecoverySignals(dirname(dirname(dest))).standby) {
    return { holes: 'end', why: 'a standby asks again and does not promote by itself: it waits here until the file is in the archive' };
  }
  if (setting === 'end') return { holes: 'end', why: 'WALSHIP_FETCH_HOLE=end: recovery ends at the hole, and nothing after it is replayed' };
  return { holes: 'fail', why: '' };
}
