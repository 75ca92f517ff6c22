import { runBackupRoundTrip } from '../support/backup-roundtrip.ts';
import { gcsStore } from '../support/backup-stores.ts';

runBackupRoundTrip(gcsStore);
