import type { Writable } from 'node:stream';

// The demo's output: one block per step, its time, and what it did and
// where. On a terminal a step under way shows as "…" until it ends.

export { formatBytes as bytes } from '../util/bytes.ts';

export const count = (n: number) => n.toLocaleString('en-US');
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export interface StepResult {
  /** One line: what happened. */
  summary: string;
  /** More lines: where, and the numbers. */
  details?: string[];
}

/** An error that already names the step it failed in. */
export class StepFailure extends Error {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.step = step;
  }
}

const LABEL_WIDTH = 9;
const TIME_WIDTH = 7;
const INDENT = ' '.repeat(4 + LABEL_WIDTH + 1 + TIME_WIDTH + 2);

export class Reporter {
  private readonly out: Writable;
  private readonly interactive: boolean;
  private n = 0;

  constructor(out: Writable, interactive: boolean) {
    this.out = out;
    this.interactive = interactive;
  }

  line(text = ''): void {
    this.out.write(`${text}\n`);
  }

  /** A result line in the steps' layout, not numbered: metrics, cleanup. */
  row(label: string, ms: number | undefined, summary: string, details: readonly string[] = []): void {
    const time = ms === undefined ? '' : seconds(ms);
    this.line(`    ${label.padEnd(LABEL_WIDTH)} ${time.padStart(TIME_WIDTH)}  ${summary}`);
    for (const d of details) this.line(`${INDENT}${d}`);
  }

  async step(label: string, doing: string, run: () => Promise<StepResult>): Promise<void> {
    const n = ++this.n;
    const head = `${String(n).padStart(2)}  ${label.padEnd(LABEL_WIDTH)}`;
    if (this.interactive) this.out.write(`${head} ${''.padStart(TIME_WIDTH)}  ${doing} …`);
    const started = Date.now();
    let result: StepResult;
    try {
      result = await run();
    } catch (err) {
      if (this.interactive) this.out.write('\r\x1b[K');
      this.line(`${head} ${seconds(Date.now() - started).padStart(TIME_WIDTH)}  FAILED: ${doing}`);
      throw err instanceof StepFailure ? err : new StepFailure(`${n} (${label})`, err);
    }
    if (this.interactive) this.out.write('\r\x1b[K');
    this.line(`${head} ${seconds(Date.now() - started).padStart(TIME_WIDTH)}  ${result.summary}`);
    for (const d of result.details ?? []) this.line(`${INDENT}${d}`);
  }
}
