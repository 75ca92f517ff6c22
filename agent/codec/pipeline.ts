// The codec: compress, then encrypt, on the way into the store (WAL-G's
// order, so either tool reads the other's objects), and the reverse on the
// way out. Keys are parsed once here, not per object.

import type { Readable } from 'node:stream';
import type { CodecConfig } from '../config/types.ts';
import { WalshipError } from '../errors.ts';
import { compressStages, decompressStages } from './compression.ts';
import { asCompressionMethod, type Encoding } from './encoding.ts';
import { loadPgpKeys, type PgpKeys } from './openpgp-keys.ts';
import { decryptStage, encryptStage } from './openpgp-streams.ts';
import { pipeStages, type Stage } from './stage-pipeline.ts';

export interface Codec {
  /** What encode() writes. */
  readonly encoding: Encoding;
  /** Compresses, then encrypts. Errors surface on the returned stream. */
  encode(plain: Readable): Readable;
  /**
   * Decrypts, then decompresses, as `how` says the object was written (which
   * may differ from this codec's own encoding). Corrupt or tampered input
   * makes the returned stream fail, possibly only at its very end: write it
   * to a temporary file and publish on a clean end (writeFileAtomic).
   * Throws at once, destroying `stored`, when the object is encrypted and no
   * usable private key is configured.
   */
  decode(stored: Readable, how: Encoding): Readable;
}

export async function createCodec(config: CodecConfig): Promise<Codec> {
  const keys = config.pgp === undefined ? undefined : await loadPgpKeys(config.pgp);
  const encoding: Encoding = { compression: asCompressionMethod(config.compression, 'codec configuration'), encrypted: keys !== undefined };
  return {
    encoding,
    encode(plain: Readable): Readable {
      const stages: Stage[] = [...compressStages(encoding.compression)];
      if (keys !== undefined) stages.push(encryptStage(keys));
      return pipeStages(plain, stages);
    },
    decode(stored: Readable, how: Encoding): Readable {
      let stages: Stage[];
      try {
        stages = [...(how.encrypted ? [decryptStage(requireKeys(keys))] : []), ...decompressStages(how.compression)];
      } catch (err) {
        stored.destroy();
        throw err;
      }
      return pipeStages(stored, stages);
    },
  };
}

function requireKeys(keys: PgpKeys | undefined): PgpKeys {
  if (keys === undefined) {
    throw new WalshipError('CRYPTO_NOT_CONFIGURED', 'the object is encrypted but no OpenPGP key is configured');
  }
  return keys;
}
