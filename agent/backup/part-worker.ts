import { parentPort } from 'node:worker_threads';
import { Lz4ChunkWriter, PlainChunkWriter } from '../codec/chunk-writer.ts';
import { WalshipError, transferableError } from '../errors.ts';
import { sha256FileSync } from '../util/hash-stream.ts';
import { threadReclaimer } from '../util/reclaim.ts';
import { PACK_WINDOW, type FromWorker, type PackRequest, type ToWorker } from './part-messages.ts';
import { packPart } from './part-pack.ts';
import { PartUnpacker, type UnpackOptions } from './part-unpack.ts';
import { PageVerifier } from './page-verify.ts';

// A part worker thread: packs a backup part (read, hash, tar, compress),
// unpacks one (decompress, untar, hash, write) or hashes a file, so that
// the main thread only moves compressed bytes between the store and here.

const port = parentPort;
if (port === null) throw new WalshipError('INTERNAL', 'part-worker.ts runs only as a worker thread');

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const fail = (job: number, err: unknown) => send({ kind: 'failed', job, error: transferableError(err) });

interface PackJob {
  kind: 'pack';
  credit: number;
  cancelled: boolean;
  wake: (() => void) | undefined;
}

interface UnpackJob {
  kind: 'unpack';
  unpacker: PartUnpacker;
  /** Chunks are handled strictly one after the other. */
  queue: Promise<void>;
  failed: boolean;
}

const jobs = new Map<number, PackJob | UnpackJob>();

async function pack(job: number, request: PackRequest): Promise<void> {
  const state: PackJob = { kind: 'pack', credit: PACK_WINDOW, cancelled: false, wake: undefined };
  jobs.set(job, state);
  const reclaimer = threadReclaimer;
  const writer = request.compression === 'lz4' ? new Lz4ChunkWriter(reclaimer) : new PlainChunkWriter();
  const verifier = request.verifyFromLsn === undefined ? undefined : new PageVerifier(true, request.verifyFromLsn);
  try {
    const result = await packPart(
      request.files,
      request.part,
      writer,
      {
        cancelled: () => state.cancelled,
        reclaimer,
        drain: async (dataBytes) => {
          let bytes = dataBytes;
          for (const batch of writer.ready.splice(0)) {
            while (state.credit === 0 && !state.cancelled) await new Promise<void>((resolve) => (state.wake = resolve));
            if (state.cancelled) return;
            state.credit--;
            send({ kind: 'batch', job, data: batch, dataBytes: bytes }, [batch.buffer as ArrayBuffer]);
            bytes = 0;
          }
        },
      },
      verifier,
    );
    if (result) send({ kind: 'packed', job, result });
  } catch (err) {
    if (!state.cancelled) fail(job, err);
  } finally {
    jobs.delete(job);
  }
}

function unpack(job: number, options: UnpackOptions): void {
  jobs.set(job, { kind: 'unpack', unpacker: new PartUnpacker(options), queue: Promise.resolve(), failed: false });
}

/** Runs step after the job's earlier chunks; the first failure is reported once and ends the job. */
function unpackStep(job: number, step: (unpacker: PartUnpacker) => Promise<FromWorker | undefined>): void {
  const state = jobs.get(job);
  if (state?.kind !== 'unpack') return;
  state.queue = state.queue.then(async () => {
    if (state.failed) return;
    try {
      const reply = await step(state.unpacker);
      if (reply) send(reply);
      if (reply?.kind === 'unpacked') jobs.delete(job);
    } catch (err) {
      state.failed = true;
      jobs.delete(job);
      fail(job, err);
    }
  });
}

port.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'pack':
      void pack(message.job, message.request);
      return;
    case 'credit': {
      const state = jobs.get(message.job);
      if (state?.kind !== 'pack') return;
      state.credit += message.n;
      state.wake?.();
      return;
    }
    case 'unpack':
      unpack(message.job, message.options);
      return;
    case 'chunk': {
      const data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
      unpackStep(message.job, async (u) => ({ kind: 'consumed', job: message.job, bytes: await u.write(data) }));
      return;
    }
    case 'finish':
      unpackStep(message.job, async (u) => ({ kind: 'unpacked', job: message.job, bytes: await u.finish(), findings: u.findings() }));
      return;
    case 'hash':
      try {
        send({ kind: 'hashed', job: message.job, ...sha256FileSync(message.path) });
      } catch (err) {
        fail(message.job, err);
      }
      return;
    case 'cancel': {
      const state = jobs.get(message.job);
      if (state?.kind === 'pack') {
        state.cancelled = true;
        state.wake?.();
      } else if (state?.kind === 'unpack') {
        unpackStep(message.job, async (u) => {
          await u.abort();
          throw new WalshipError('INTERNAL', 'restore of the part was cancelled');
        });
      }
      return;
    }
  }
});
