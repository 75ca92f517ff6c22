import { PassThrough, type Readable } from 'node:stream';

/**
 * Encodes a buffer that fills in from its start (a WAL segment PostgreSQL
 * is still writing): what is final is encoded as it comes, the rest at
 * finish(), and the result is byte for byte what encodeWhole() makes of the
 * finished content.
 */
export interface GrowingEncoder {
  /** The buffer's bytes [0, final) will not change any more. */
  advance(final: number): void;
  /** [0, size) is final: the whole encoding. */
  finish(size: number): Promise<Buffer>;
  /** Nothing more will be asked; work in flight may still read the buffer, and its output is dropped. */
  abandon(): void;
}

/** Through the codec's stream stages: for every encoding without a direct path (encryption, zstd, ...). */
export class StreamGrowingEncoder implements GrowingEncoder {
  readonly #buffer: Buffer;
  readonly #input = new PassThrough();
  readonly #output: Buffer[] = [];
  readonly #ended: Promise<void>;
  #written = 0;

  constructor(buffer: Buffer, encode: (plain: Readable) => Readable) {
    this.#buffer = buffer;
    const encoded = encode(this.#input);
    encoded.on('data', (chunk: Buffer) => this.#output.push(chunk));
    this.#ended = new Promise<void>((resolve, reject) => {
      encoded.on('end', resolve);
      encoded.on('error', reject);
      this.#input.on('error', reject);
    });
    this.#ended.catch(() => undefined);
  }

  advance(final: number): void {
    if (final <= this.#written) return;
    this.#input.write(this.#buffer.subarray(this.#written, final));
    this.#written = final;
  }

  async finish(size: number): Promise<Buffer> {
    this.advance(size);
    this.#input.end();
    await this.#ended;
    return Buffer.concat(this.#output);
  }

  abandon(): void {
    this.#input.destroy();
  }
}
