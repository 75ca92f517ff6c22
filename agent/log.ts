import { pino, type Logger } from 'pino';
import type { Writable } from 'node:stream';

// Structured JSON logs, one line each. Configuration is never logged, so no
// secret can reach a log line; the redact list is a second guard for fields
// that might carry one.

export type { Logger };

export function createLogger(level: string, destination: Writable): Logger {
  return pino(
    {
      level,
      base: { app: 'walship' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', 'secret', 'accessKey', 'sasToken', 'connectionString', 'armoredKey', 'passphrase', '*.password', '*.secretAccessKey'], censor: '[redacted]' },
    },
    destination,
  );
}
