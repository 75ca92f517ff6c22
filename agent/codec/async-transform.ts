// A Transform whose per-chunk and end-of-input work are async functions.
// Node's Transform waits for the callback before it hands over the next
// chunk, which is what gives these codecs their backpressure: while a chunk's
// work is pending, nothing more is read from upstream.

import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';

export abstract class AsyncTransform extends Transform {
  constructor(options?: TransformOptions) {
    super(options);
  }

  protected abstract transformAsync(chunk: Buffer): Promise<void>;
  protected abstract flushAsync(): Promise<void>;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.transformAsync(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.flushAsync().then(() => callback(), callback);
  }
}
