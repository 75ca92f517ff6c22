import { existsSync } from 'node:fs';
import { join } from 'node:path';

// What the data directory says PostgreSQL will do at its next start, or is
// doing: recovery.signal asks for archive recovery (a point-in-time restore,
// a clone) that ends with a promotion, standby.signal for a standby that
// keeps recovering; with both, standby mode wins. PostgreSQL removes
// recovery.signal once the recovery has ended.

export interface RecoverySignals {
  /** Archive recovery towards a promotion is under way or pending. */
  archiveRecovery: boolean;
  standby: boolean;
}

export function readRecoverySignals(pgdata: string): RecoverySignals {
  const standby = existsSync(join(pgdata, 'standby.signal'));
  return { standby, archiveRecovery: !standby && existsSync(join(pgdata, 'recovery.signal')) };
}
