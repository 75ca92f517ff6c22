import type { Readable } from 'node:stream';

// Reads the start of a body to learn whether it is small. A small body
// goes up in one request (a simple upload); a large or endless one needs a
// resumable upload, whose session costs a second round trip. Most bodies
// arrive without a known length (they come out of a compressor), so their
// size is only known by reading them.

export type BodyHead =
  /** The whole body: it ended within the limit. */
  | { whole: Buffer }
  /** The source, paused, with what was read put back in front. */
  | { stream: Readable };

export function readHead(source: Readable, limit: number): Promise<BodyHead> {
  return new Promise((resolve, reject) => {
    const head: Buffer[] = [];
    let size = 0;
    const done = () => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
    };
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      head.push(buf);
      size += buf.length;
      if (size <= limit) return;
      done();
      source.pause();
      // unshift() hands bytes back to be read again, in front of the rest.
      for (let i = head.length - 1; i >= 0; i--) source.unshift(head[i]);
      resolve({ stream: source });
    };
    const onEnd = () => {
      done();
      resolve({ whole: head.length === 1 ? head[0]! : Buffer.concat(head, size) });
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onClose = () => {
      done();
      reject(new Error('the body stream closed before its end'));
    };
    source.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}
