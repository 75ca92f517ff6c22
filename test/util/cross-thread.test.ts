import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { WalshipError, errorFromTransfer, localIoError, transferableError } from '../../agent/errors.ts';
import { Reclaimer, threadReclaimer } from '../../agent/util/reclaim.ts';

/** What the other side of a thread boundary receives. */
function across<T>(value: T): T {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(value);
  const received = receiveMessageOnPort(port2)!.message as T;
  port1.close();
  return received;
}

test('a WalshipError crosses a thread boundary with its code, exit code and details', () => {
  const original = new WalshipError('BACKUP_CORRUPT', 'part_001: base/1/1259 does not match', { details: { path: 'base/1/1259' } });
  const back = errorFromTransfer(across(transferableError(original)));
  assert.ok(back instanceof WalshipError);
  assert.equal(back.code, 'BACKUP_CORRUPT');
  assert.equal(back.exitCode, original.exitCode);
  assert.equal(back.message, original.message);
  assert.deepEqual(back.details, { path: 'base/1/1259' });
});

test('a system error keeps its errno code, so it is still reported as IO_FAILED', () => {
  const original = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC', syscall: 'write', path: '/restore/base/1/1259' });
  const back = errorFromTransfer(across(transferableError(original)));
  assert.equal((back as NodeJS.ErrnoException).code, 'ENOSPC');
  assert.equal((back as NodeJS.ErrnoException).path, '/restore/base/1/1259');
  const reported = localIoError(back, 'restoring into /restore');
  assert.ok(reported instanceof WalshipError && reported.code === 'IO_FAILED');
  assert.equal(errorFromTransfer(across(transferableError('a thrown string'))).message, 'a thrown string');
});

test('the reclaimer collects once enough was dropped, and lets finalizers run', async () => {
  const r = new Reclaimer();
  r.note(1 << 20);
  assert.equal(r.due, false);
  r.note(8 << 20);
  assert.equal(r.due, true);
  r.collectIfDue();
  assert.equal(r.due, false);
  r.note(9 << 20);
  await r.reclaim();
  assert.equal(r.due, false);
  assert.ok(threadReclaimer instanceof Reclaimer);
});
