// The compression stage of the pipeline, one constructor per method.

import { constants, createBrotliCompress, createBrotliDecompress, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import type { CompressionMethod } from '../config/types.ts';
import { WalshipError, isWalshipError } from '../errors.ts';
import { Lz4Decoder } from './lz4-decoder.ts';
import { Lz4Encoder } from './lz4-encoder.ts';
import type { Stage } from './stage-pipeline.ts';
import { trailingInputGuard } from './trailing-input-guard.ts';

// Levels: walship runs beside PostgreSQL on the same few cores, and
// archive_command latency matters more than the last percent of ratio. On a
// real 16 MiB WAL segment (measured, see bench/codec): zstd 1 stores 3.9 %
// at ~1 GB/s where zstd 3 stores 3.1 % at 0.68 GB/s; brotli's default
// quality 11 is two orders of magnitude slower than quality 1 (3.8 %,
// ~0.8 GB/s); gzip 1 stores 5.1 % at ~0.4 GB/s, and higher gzip levels buy
// little on WAL. lz4 has no level in lz4-napi.
const ZSTD_LEVEL = 1;
const BROTLI_QUALITY = 1;
const GZIP_LEVEL = 1;
/** Larger than zlib's 16 KiB default: fewer, bigger chunks move faster through the pipeline. */
const ZLIB_CHUNK_BYTES = 64 << 10;

const FORMAT_NAMES: Readonly<Record<CompressionMethod, string>> = {
  lz4: 'LZ4',
  zstd: 'zstd',
  brotli: 'brotli',
  gzip: 'gzip',
  none: 'uncompressed',
};

/** Stages that compress with `method`; none for 'none'. */
export function compressStages(method: CompressionMethod): Stage[] {
  const describeError = (err: Error) => internalError(err, method);
  switch (method) {
    case 'lz4':
      return [{ stream: new Lz4Encoder(), describeError }];
    case 'zstd':
      return [
        {
          stream: createZstdCompress({
            chunkSize: ZLIB_CHUNK_BYTES,
            // The checksum lets a reader detect a damaged frame, which
            // otherwise can decode to wrong bytes without an error.
            params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL, [constants.ZSTD_c_checksumFlag]: 1 },
          }),
          describeError,
        },
      ];
    case 'brotli':
      return [
        {
          stream: createBrotliCompress({ chunkSize: ZLIB_CHUNK_BYTES, params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } }),
          describeError,
        },
      ];
    case 'gzip':
      return [{ stream: createGzip({ chunkSize: ZLIB_CHUNK_BYTES, level: GZIP_LEVEL }), describeError }];
    case 'none':
      return [];
  }
  return unsupported(method);
}

/** Stages that undo `method`; none for 'none'. */
export function decompressStages(method: CompressionMethod): Stage[] {
  const describeError = (err: Error) => corruptError(err, method);
  switch (method) {
    case 'lz4':
      return [{ stream: new Lz4Decoder(), describeError }];
    case 'zstd':
    case 'brotli': {
      const engine = method === 'zstd' ? createZstdDecompress({ chunkSize: ZLIB_CHUNK_BYTES }) : createBrotliDecompress({ chunkSize: ZLIB_CHUNK_BYTES });
      const guard = trailingInputGuard(engine, FORMAT_NAMES[method]);
      return [{ stream: guard.counter }, { stream: engine, describeError }, { stream: guard.check }];
    }
    case 'gzip':
      // Gunzip reads concatenated members and rejects trailing garbage itself.
      return [{ stream: createGunzip({ chunkSize: ZLIB_CHUNK_BYTES }), describeError }];
    case 'none':
      return [];
  }
  return unsupported(method);
}

function corruptError(err: Error, method: CompressionMethod): WalshipError {
  if (isWalshipError(err)) return err;
  return new WalshipError('CODEC_CORRUPT', `${FORMAT_NAMES[method]} data is corrupt: ${err.message}`, { cause: err });
}

function internalError(err: Error, method: CompressionMethod): WalshipError {
  if (isWalshipError(err)) return err;
  return new WalshipError('INTERNAL', `${FORMAT_NAMES[method]} compression failed: ${err.message}`, { cause: err });
}

function unsupported(method: never): never {
  throw new WalshipError('CODEC_UNSUPPORTED', `unknown compression method ${JSON.stringify(method)}`);
}
