import { parseLsn } from './names.ts';

// A timeline history file (TTTTTTTT.history), as PostgreSQL writes it at a
// promotion: one line per ancestor timeline, "parentTLI<tab>switchpoint
// LSN<tab>reason", where the switch point is where the parent ends and the
// child takes over. Comment lines start with '#'.

export interface TimelineSwitch {
  /** The timeline that ends here. */
  parent: number;
  /** The first LSN that is not the parent's: WAL from here on belongs to a later timeline. */
  switchLsn: bigint;
}

export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [tli, lsn] = trimmed.split(/\s+/);
    const parent = Number(tli);
    // PostgreSQL's own reader stops at a malformed line too: what follows cannot be trusted.
    if (!Number.isInteger(parent) || parent <= 0 || lsn === undefined) break;
    try {
      switches.push({ parent, switchLsn: parseLsn(lsn) });
    } catch {
      break;
    }
  }
  return switches;
}
