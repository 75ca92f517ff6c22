import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { Crc32c } from './gcs-crc32c.ts';

// An object body on disk with its running checksums. Bytes count (and are
// hashed) only once they are in the file, so an upload cut off mid-request
// leaves a blob whose size and hashes agree with what it holds: the state
// a resumable session resumes from.

export class BlobFile {
  readonly path: string;
  size = 0;
  private readonly md5: Hash = createHash('md5');
  private readonly crc = new Crc32c();

  constructor(path: string) {
    this.path = path;
  }

  absorb(chunk: Buffer): void {
    this.md5.update(chunk);
    this.crc.update(chunk);
    this.size += chunk.length;
  }

  private final: { md5Hash: string; crc32c: string } | undefined;

  /** Base64 digests, as the JSON API reports them. The blob takes no bytes after the first call. */
  digests(): { md5Hash: string; crc32c: string } {
    this.final ??= { md5Hash: this.md5.digest('base64'), crc32c: this.crc.base64() };
    return this.final;
  }

  /** A stream that appends to the blob; `skip` drops that many leading bytes (ones the blob already has). */
  async appender(skip = 0): Promise<Writable> {
    const handle = await open(this.path, 'a');
    return new BlobAppender(handle, this, skip);
  }
}

class BlobAppender extends Writable {
  private readonly handle: FileHandle;
  private readonly blob: BlobFile;
  private skip: number;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(handle: FileHandle, blob: BlobFile, skip: number) {
    super({ highWaterMark: 1024 * 1024 });
    this.handle = handle;
    this.blob = blob;
    this.skip = skip;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.skip > 0) {
      const dropped = Math.min(this.skip, chunk.length);
      this.skip -= dropped;
      chunk = chunk.subarray(dropped);
      if (chunk.length === 0) return done();
    }
    const data = chunk;
    this.pending = this.handle.write(data).then(
      () => {
        this.blob.absorb(data);
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // A write already handed to the kernel finishes first, so the blob's
    // size never lags behind the file.
    this.pending
      .catch(() => undefined)
      .then(() => this.handle.close())
      .then(
        () => done(err),
        (closeErr: Error) => done(err ?? closeErr),
      );
  }
}
