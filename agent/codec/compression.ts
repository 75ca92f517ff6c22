// The compression stage of the pipeline, one constructor per method.

import { constants, createBrotliCompress, createBrotliDecompress, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import type { CompressionMethod } from '../config/types.ts';
import { WalshipError, isWalshipError } from '../errors.ts';
import { Lz4Decoder } from './lz4-decoder.ts';
import { Lz4Encoder } from './lz4-encoder.ts';
import { LzmaDecoder } from './lzma-decoder.ts';
import type { StoredCompression } from './encoding.ts';
import type { Stage } from './stage-pipeline.ts';
import { trailingInputGuard } from './trailing-input-guard.ts';

// Levels: walship runs beside PostgreSQL on the same few cores, and
// archive_command latency matters more than the last percent of ratio.
// Measured on a 16 MiB pgbench WAL segment (one-shot, one core):
//   zstd 1: 2.8 % at 1500 MiB/s; zstd 3: 2.9 % at 950 MiB/s (no gain);
//   brotli 1: 3.1 % at 1390 MiB/s; brotli 4: 2.5 % at 390 MiB/s; brotli's
//   default 11: 1.9 % at 0.3 MiB/s;
//   gzip 1: 3.5 % at 600 MiB/s; gzip 6 (its default): 3.2 % at 156 MiB/s.
// lz4 has no level in lz4-napi.
/** The default of WALG_ZSTD_LEVEL. */
const ZSTD_LEVEL = 1;
const BROTLI_QUALITY = 1;
const GZIP_LEVEL = 1;
/**
 * Output chunk size of the zlib-based decompressors. zlib's 16 KiB default
 * means a callback per 16 KiB of output; 256 KiB chunks decompressed a WAL
 * segment 1.5-2.7x faster (zstd 600 -> 1600 MiB/s, gzip 510 -> 1140).
 * Compression output is small, so the default suits it.
 */
const DECOMPRESSED_CHUNK_BYTES = 256 << 10;

const FORMAT_NAMES: Readonly<Record<StoredCompression, string>> = {
  lz4: 'LZ4',
  lzma: 'LZMA',
  zstd: 'zstd',
  brotli: 'brotli',
  gzip: 'gzip',
  none: 'uncompressed',
};

/** Stages that compress with `method`; none for 'none'. */
export function compressStages(method: CompressionMethod, zstdLevel = ZSTD_LEVEL): Stage[] {
  const describeError = (err: Error) => internalError(err, method);
  switch (method) {
    case 'lz4':
      return [{ stream: new Lz4Encoder(), describeError }];
    case 'zstd':
      return [
        {
          stream: createZstdCompress({
            // The checksum lets a reader detect a damaged frame, which
            // otherwise can decode to wrong bytes without an error.
            params: { [constants.ZSTD_c_compressionLevel]: zstdLevel, [constants.ZSTD_c_checksumFlag]: 1 },
          }),
          describeError,
        },
      ];
    case 'brotli':
      return [
        {
          stream: createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } }),
          describeError,
        },
      ];
    case 'gzip':
      return [{ stream: createGzip({ level: GZIP_LEVEL }), describeError }];
    case 'none':
      return [];
  }
  return unsupported(method);
}

/** Stages that undo `method`; none for 'none'. */
export function decompressStages(method: StoredCompression): Stage[] {
  const describeError = (err: Error) => corruptError(err, method);
  switch (method) {
    case 'lz4':
      return [{ stream: new Lz4Decoder(), describeError }];
    case 'zstd':
    case 'brotli': {
      const engine = method === 'zstd' ? createZstdDecompress({ chunkSize: DECOMPRESSED_CHUNK_BYTES }) : createBrotliDecompress({ chunkSize: DECOMPRESSED_CHUNK_BYTES });
      const guard = trailingInputGuard(engine, FORMAT_NAMES[method]);
      return [{ stream: guard.counter }, { stream: engine, describeError }, { stream: guard.check }];
    }
    case 'gzip':
      // Gunzip reads concatenated members and rejects trailing garbage itself.
      return [{ stream: createGunzip({ chunkSize: DECOMPRESSED_CHUNK_BYTES }), describeError }];
    case 'lzma':
      return [{ stream: new LzmaDecoder(), describeError }];
    case 'none':
      return [];
  }
  return unsupported(method);
}

function corruptError(err: Error, method: StoredCompression): WalshipError {
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
