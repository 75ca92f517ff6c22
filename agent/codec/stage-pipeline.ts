// Chains codec stages behind a source and hands back one Readable, so the
// consumer sees a single stream with a single error. Each stage may say how
// its own failures read to a user ("gzip data is corrupt: ..."); an error is
// described by the stage it came from, not by every stage it then tears
// down, so a network error from the source is never reported as corruption.

import { PassThrough, pipeline, type Duplex, type Readable } from 'node:stream';
import type { WalshipError } from '../errors.ts';

export interface Stage {
  stream: Duplex;
  /** Turns an error this stage raised itself into a catalogued one. */
  describeError?: (err: Error) => WalshipError;
}

export function pipeStages(source: Readable, stages: readonly Stage[]): Readable {
  if (stages.length === 0) return source;
  const describers = new WeakMap<object, ((err: Error) => WalshipError) | undefined>();
  const streams: (Readable | Duplex)[] = [source, ...stages.map((s) => s.stream)];
  const describerOf = [undefined, ...stages.map((s) => s.describeError)];
  // Registered before pipeline() adds its own listeners, so the stream where
  // an error starts records it before pipeline() forwards it to the others.
  streams.forEach((stream, i) => {
    stream.on('error', (err: unknown) => {
      if (typeof err === 'object' && err !== null && !describers.has(err)) describers.set(err, describerOf[i]);
    });
  });
  const output = new PassThrough({
    destroy(err, callback) {
      const describe = err === null ? undefined : describers.get(err);
      callback(describe === undefined || err === null ? err : describe(err));
    },
  });
  // Errors reach the consumer through `output`; nothing more to do here.
  pipeline([...streams, output], () => undefined);
  return output;
}
