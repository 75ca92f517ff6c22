import type { Readable, Writable } from 'node:stream';

/** The streams a command talks to, handed in so commands never reach for globals. */
export interface CommandIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** The process environment, read once by the CLI layer and nowhere below it. */
  env: Readonly<Record<string, string | undefined>>;
}

export function writeLine(stream: Writable, line = ''): void {
  stream.write(`${line}\n`);
}
