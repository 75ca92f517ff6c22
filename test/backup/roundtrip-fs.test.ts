import { runBackupRoundTrip } from '../support/backup-roundtrip.ts';
import { filesystemStore } from '../support/backup-stores.ts';

runBackupRoundTrip(filesystemStore);
