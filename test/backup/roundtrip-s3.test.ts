import { runBackupRoundTrip } from '../support/backup-roundtrip.ts';
import { s3rverStore } from '../support/backup-stores.ts';

runBackupRoundTrip(s3rverStore);
