import type { Writable } from 'node:stream';

// What `walship demo` gets from the command line: everything it would
// otherwise read from the process (environment, paths, signals) is handed
// in here, so nothing below the CLI reads process.env.

export interface DemoHost {
  /** Where the step-by-step report goes. */
  out: Writable;
  /** out is a terminal: a step under way is shown, then replaced by its result. */
  interactive: boolean;
  /** PATH for child processes: pg_config, runuser, sh. */
  path: string;
  /** The directory the workspace is made in (the system's temp directory). */
  tmpRoot: string;
  /** This Node.js, and walship's bin/walship: the agents and commands run as users run them. */
  node: string;
  walshipBin: string;
  /** Resolves on the first SIGINT (Ctrl-C) or SIGTERM: the demo cleans up and exits. */
  untilStop: Promise<string>;
}

export interface DemoOptions {
  /** Leave the clusters and agents running and the files in place. */
  keep: boolean;
  /** pgbench scale factor: 100,000 accounts (about 15 MiB) each. */
  scale: number;
  /** Seconds of pgbench traffic between the backup and the recovery target. */
  seconds: number;
  /** The PostgreSQL binaries' directory, instead of looking for them. */
  pgBin?: string;
}
