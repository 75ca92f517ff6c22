// The codec: compress, then encrypt, on the way into the store (WAL-G's
// order, so either tool reads the other's objects), and the reverse on the
// way out. Keys are parsed once here, not per object.

import { Readable } from 'node:stream';
import type { CodecConfig, PgpConfig } from '../config/types.ts';
import { WalshipError } from '../errors.ts';
import { compressStages, decompressStages } from './compression.ts';
import { Lz4GrowingEncoder, lz4EncodeWhole } from './lz4-encoder.ts';
import { StreamGrowingEncoder, type GrowingEncoder } from './growing-encoder.ts';
import { asCompressionMethod, type Encoding, type StoredEncoding } from './encoding.ts';
import { pipeStages, type Stage } from './stage-pipeline.ts';

export interface Codec {
  /** What encode() writes. */
  readonly encoding: Encoding;
  /** Compresses, then encrypts. Errors surface on the returned stream. */
  encode(plain: Readable): Readable;
  /** What encode() would write for bytes already in memory (a WAL segment), by the fastest way the configuration allows. */
  encodeWhole(plain: Buffer): Promise<Buffer>;
  /** encodeWhole() for a buffer still filling in from its start, begun before it is complete. */
  growingEncoder(buffer: Buffer): GrowingEncoder;
  /**
   * Decrypts, then decompresses, as `how` says the object was written (which
   * may differ from this codec's own encoding). Corrupt or tampered input
   * makes the returned stream fail, possibly only at its very end: write it
   * to a temporary file and publish on a clean end (writeFileAtomic).
   * Throws at once, destroying `stored`, when the object is encrypted and no
   * usable private key is configured.
   */
  decode(stored: Readable, how: StoredEncoding): Readable;
  /** Encrypts (when configured) bytes already compressed as `encoding` says, by a worker thread. */
  encrypt(compressed: Readable): Readable;
  /** Decrypts (when `how` says so) and leaves decompression to the caller. Throws as decode() does. */
  decrypt(stored: Readable, how: StoredEncoding): Readable;
}

export async function createCodec(config: CodecConfig): Promise<Codec> {
  // openpgp.js is loaded only when a key is configured: it is the largest
  // module walship has, and per-process start-up is paid per command.
  const crypto = config.pgp === undefined ? undefined : await loadCrypto(config.pgp);
  const encoding: Encoding = { compression: asCompressionMethod(config.compression, 'codec configuration'), encrypted: crypto !== undefined };
  const encryptStages = (): Stage[] => (crypto === undefined ? [] : [crypto.encryptStage(crypto.keys)]);
  const encodeStages = (): Stage[] => [...compressStages(encoding.compression, config.zstdLevel), ...encryptStages()];
  const decodeStages = (stored: Readable, how: StoredEncoding, decompress: boolean): Readable => {
    let stages: Stage[];
    try {
      stages = [...(how.encrypted ? [decryptWith(crypto)] : []), ...(decompress ? decompressStages(how.compression) : [])];
    } catch (err) {
      stored.destroy();
      throw err;
    }
    return pipeStages(stored, stages);
  };
  const direct = crypto === undefined && encoding.compression === 'lz4';
  return {
    encoding,
    encode: (plain) => pipeStages(plain, encodeStages()),
    encodeWhole: async (plain) =>
      direct ? lz4EncodeWhole(plain) : Buffer.concat(await pipeStages(Readable.from([plain], { objectMode: false }), encodeStages()).toArray()),
    growingEncoder: (buffer) => (direct ? new Lz4GrowingEncoder(buffer) : new StreamGrowingEncoder(buffer, (plain) => pipeStages(plain, encodeStages()))),
    decode: (stored, how) => decodeStages(stored, how, true),
    encrypt: (compressed) => pipeStages(compressed, encryptStages()),
    decrypt: (stored, how) => decodeStages(stored, how, false),
  };
}

async function loadCrypto(config: PgpConfig) {
  const [{ loadPgpKeys }, { encryptStage, decryptStage }] = await Promise.all([import('./openpgp-keys.ts'), import('./openpgp-streams.ts')]);
  return { keys: await loadPgpKeys(config), encryptStage, decryptStage };
}

function decryptWith(crypto: Awaited<ReturnType<typeof loadCrypto>> | undefined): Stage {
  if (crypto === undefined) {
    throw new WalshipError('CRYPTO_NOT_CONFIGURED', 'the object is encrypted but no OpenPGP key is configured');
  }
  return crypto.decryptStage(crypto.keys);
}
