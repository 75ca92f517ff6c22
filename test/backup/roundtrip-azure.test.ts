import { runBackupRoundTrip } from '../support/backup-roundtrip.ts';
import { azuriteStore } from '../support/backup-stores.ts';

runBackupRoundTrip(azuriteStore);
