import { SingleBar } from 'cli-progress';
import type { Writable } from 'node:stream';
import { formatBytes } from './format.ts';

// A progress bar (bytes, rate, ETA) when a person watches a terminal;
// nothing otherwise, so logs and pipes stay clean.

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

export function terminalProgress(stream: Writable, label: string): Progress {
  if (!(stream as { isTTY?: boolean }).isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    stream: stream as NodeJS.WriteStream,
    format: `${label} [{bar}] {percentage}% | {doneText} of {totalText} | {rate}/s | ETA {eta_formatted}`,
    hideCursor: true,
    etaBuffer: 50,
  });
  const started = Date.now();
  let begun = false;
  return {
    update(done, total) {
      const values = { doneText: formatBytes(done), totalText: formatBytes(total), rate: formatBytes(done / Math.max(0.001, (Date.now() - started) / 1000)) };
      if (!begun) {
        bar.start(total, done, values);
        begun = true;
      } else {
        bar.setTotal(total);
        bar.update(done, values);
      }
    },
    stop() {
      if (begun) bar.stop();
    },
  };
}
