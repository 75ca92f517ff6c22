import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { terminalProgress } from '../../agent/cli/progress.ts';

function capture(isTTY: boolean): { stream: Writable & { isTTY?: boolean; columns?: number; cursorTo?: unknown; clearLine?: unknown; moveCursor?: unknown }; text(): string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _e, cb) {
      out += String(chunk);
      cb();
    },
  }) as Writable & { isTTY?: boolean; columns?: number; cursorTo?: (x: number, y?: number) => boolean; clearLine?: (d: number) => boolean; moveCursor?: (dx: number, dy: number) => boolean };
  if (isTTY) {
    stream.isTTY = true;
    stream.columns = 160;
    stream.cursorTo = () => true;
    stream.clearLine = () => true;
    stream.moveCursor = () => true;
  }
  return { stream, text: () => out };
}

test('a terminal gets a progress bar with bytes, rate and ETA', async () => {
  const { stream, text } = capture(true);
  const progress = terminalProgress(stream, 'backup');
  progress.update(0, 100 * 1024 * 1024);
  await new Promise((r) => setTimeout(r, 50));
  progress.update(50 * 1024 * 1024, 100 * 1024 * 1024);
  progress.stop();
  assert.match(text(), /backup \[.*\] 50% \| 50\.0 MiB of 100\.0 MiB \| [\d.]+ [KMG]?i?B\/s \| ETA /);
});

test('logs and pipes get no progress bar', () => {
  const { stream, text } = capture(false);
  const progress = terminalProgress(stream, 'restore');
  progress.update(10, 100);
  progress.stop();
  assert.equal(text(), '');
});
