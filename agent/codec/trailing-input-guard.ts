// Node's zstd and brotli decompressors stop at the end of the first frame
// and silently drop whatever follows (measured: two concatenated zstd frames
// decode to the first one only, and trailing garbage passes unnoticed). The
// guard counts what goes into the decompressor and, when its output ends,
// compares that with what the engine consumed (zlib's bytesWritten).

import { Transform, type TransformCallback } from 'node:stream';
import { WalshipError } from '../errors.ts';

export interface TrailingInputGuard {
  /** Goes before the decompressor: counts its input. */
  counter: Transform;
  /** Goes after it: fails the stream at the end if input was left over. */
  check: Transform;
}

export function trailingInputGuard(decompressor: { readonly bytesWritten: number }, format: string): TrailingInputGuard {
  let fed = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      fed += chunk.length;
      callback(null, chunk);
    },
  });
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const left = fed - decompressor.bytesWritten;
      if (left > 0) {
        callback(
          new WalshipError(
            'CODEC_CORRUPT',
            `${format} data is corrupt: ${left} or more bytes follow the end of the ${format} data (trailing garbage, or concatenated ${format} streams, which walship does not read)`,
          ),
        );
        return;
      }
      callback();
    },
  });
  return { counter, check };
}
