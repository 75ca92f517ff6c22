// WAL-G's lzma objects, read only: WAL-G wrote them with
// github.com/ulikunitz/xz/lzma's Writer (internal/compression/lzma in
// wal-g/wal-g), the classic "LZMA alone" format of `xz --format=lzma`: a
// 13-byte header (properties, dictionary size, a size of -1) and an end
// marker. @napi-rs/lzma decodes it on its own thread; it is loaded on the
// first chunk, so commands that never meet an lzma object do not pay for it.

import { WalshipError } from '../errors.ts';
import { AsyncTransform } from './async-transform.ts';

type Decompressor = { update(chunk: Uint8Array): Buffer; finish(): Promise<Buffer> };

export class LzmaDecoder extends AsyncTransform {
  #decompressor: Decompressor | undefined;

  protected async transformAsync(chunk: Buffer): Promise<void> {
    this.#decompressor ??= await open();
    this.#emit(this.#decompressor.update(chunk));
  }

  protected async flushAsync(): Promise<void> {
    // An empty object: the decoder reports the missing header.
    this.#decompressor ??= await open();
    this.#emit(await this.#decompressor.finish());
  }

  #emit(decoded: Buffer): void {
    // The views point into the decoder's own memory: copied before they are handed on.
    if (decoded.length > 0) this.push(Buffer.from(decoded));
  }
}

async function open(): Promise<Decompressor> {
  let module: typeof import('@napi-rs/lzma');
  try {
    module = await import('@napi-rs/lzma');
  } catch (err) {
    // npm leaves the prebuilt binding out when an older Node runs it
    // (bin/complete-install.js): an installation fault, not a damaged object.
    throw new WalshipError(
      'CODEC_UNAVAILABLE',
      `cannot read lzma objects: @napi-rs/lzma has no native binding for ${process.platform}-${process.arch} (${(err as Error).message.split('\n')[0]}); run \`npm install\` in walship's directory with Node >= 22.20, or use the container image`,
      { cause: err },
    );
  }
  return new module.LzmaDecompressor();
}
