import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

// The worker side of sha256-offload.ts: hashes views of shared memory.

export interface DigestRequest {
  id: number;
  buffer: SharedArrayBuffer;
  offset: number;
  length: number;
}

parentPort?.on('message', ({ id, buffer, offset, length }: DigestRequest) => {
  const sha256 = createHash('sha256').update(new Uint8Array(buffer, offset, length)).digest('hex');
  parentPort!.postMessage({ id, sha256 });
});
