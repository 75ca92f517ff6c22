import type { Readable, Writable } from 'node:stream';

/** The streams a command talks to, handed in so commands never reach for globals. */
export interface CommandIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** The process environment, read once by the CLI layer and nowhere below it. */
  env: Readonly<Record<string, string | undefined>>;
  /** Resolves on the first SIGTERM or SIGINT: long-running commands stop gracefully then. */
  untilStop(): Promise<string>;
  /** Calls back on each SIGHUP: long-running commands reload their configuration then. */
  onReload(callback: () => void): void;
}

export function writeLine(stream: Writable, line = ''): void {
  stream.write(`${line}\n`);
}
