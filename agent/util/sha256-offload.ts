import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { WalshipError } from '../errors.ts';
import type { DigestRequest } from './sha256-thread.ts';

// SHA-256 of a 16 MiB segment takes about 10 ms of CPU. On the agent's main
// thread that is 10 ms during which no spool request is noticed or answered
// and no upload makes progress; in a worker thread it also runs beside the
// compression of the same segment. Data in shared memory goes to the worker
// without a copy; anything else is hashed where it is.

/** Hex SHA-256 of the bytes; they must not change until the promise settles. */
export type Sha256 = (data: Buffer) => Promise<string>;

export const sha256Here: Sha256 = async (data) => createHash('sha256').update(data).digest('hex');

export interface Sha256Worker {
  digest: Sha256;
  close(): Promise<void>;
}

export function startSha256Worker(): Sha256Worker {
  const source = new URL(import.meta.url.endsWith('.ts') ? './sha256-thread.ts' : './sha256-thread.js', import.meta.url);
  const worker = new Worker(source);
  // Idle, it must not keep a finished command alive.
  worker.unref();
  const pending = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();
  let nextId = 0;
  let failure: Error | undefined;
  const failAll = (err: Error) => {
    failure ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', ({ id, sha256 }: { id: number; sha256: string }) => {
    pending.get(id)?.resolve(sha256);
    pending.delete(id);
    if (pending.size === 0) worker.unref();
  });
  worker.on('error', (err) => failAll(new WalshipError('INTERNAL', `the SHA-256 worker thread failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => failAll(new WalshipError('INTERNAL', `the SHA-256 worker thread exited (code ${code})`)));

  return {
    digest(data) {
      if (!(data.buffer instanceof SharedArrayBuffer) || failure !== undefined) return sha256Here(data);
      const id = nextId++;
      const request: DigestRequest = { id, buffer: data.buffer, offset: data.byteOffset, length: data.length };
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage(request);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}
