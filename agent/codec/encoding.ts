// How a stored object was written, and where that is recorded: the key's
// extension (WAL-G's convention, e.g. 000000010000000000000001.lz4) says the
// compression, and walship's object metadata says both compression and
// encryption. WAL-G writes no metadata, so a reader falls back to the
// extension and to whether a key is configured.

import type { CompressionMethod } from '../config/types.ts';
import { WalshipError } from '../errors.ts';

export interface Encoding {
  compression: CompressionMethod;
  encrypted: boolean;
}

/** Compressions walship reads but does not write: WAL-G's lzma (the "LZMA alone" format of ulikunitz/xz/lzma). */
export type ReadOnlyCompression = 'lzma';
export type StoredCompression = CompressionMethod | ReadOnlyCompression;

/** How a stored object was written, which may be a compression walship only reads. */
export interface StoredEncoding {
  compression: StoredCompression;
  encrypted: boolean;
}

const EXTENSIONS: Readonly<Record<CompressionMethod, string>> = {
  lz4: '.lz4',
  zstd: '.zst',
  brotli: '.br',
  gzip: '.gz',
  none: '',
};

const READ_ONLY_EXTENSIONS: Readonly<Record<ReadOnlyCompression, string>> = { lzma: '.lzma' };

/** Extensions of archives walship cannot decode (WAL-E's lzop, xz). */
const UNSUPPORTED_EXTENSIONS: readonly string[] = ['.lzo', '.xz'];

const COMPRESSION_METADATA = 'walship-compression';
const ENCRYPTION_METADATA = 'walship-encryption';
const ENCRYPTION_VALUES = { openpgp: true, none: false } as const;

/** Every extension a compressed object's key may end with: walship's and WAL-G's. */
export const COMPRESSION_EXTENSIONS: readonly string[] = [...Object.values(EXTENSIONS), ...Object.values(READ_ONLY_EXTENSIONS)].filter((e) => e !== '').concat(UNSUPPORTED_EXTENSIONS);

/** The key without its compression extension, if it has one. */
export function withoutCompressionExtension(key: string): string {
  const lower = key.toLowerCase();
  const ext = COMPRESSION_EXTENSIONS.find((e) => lower.endsWith(e));
  return ext === undefined ? key : key.slice(0, key.length - ext.length);
}

export function extensionFor(c: CompressionMethod): string {
  return EXTENSIONS[c];
}

/** Every extension walship reads, by compression ('' for none). */
export function readableExtensions(): ReadonlyMap<string, StoredCompression> {
  return new Map(Object.entries({ ...EXTENSIONS, ...READ_ONLY_EXTENSIONS }).map(([method, extension]) => [extension, method as StoredCompression]));
}

/**
 * The compression a key's extension announces; 'none' when it has no known
 * one, or ends in a bare dot: WAL-G <= 3.0.8 names an uncompressed object
 * `<name>.` (its file name, a dot, and the empty extension of "none").
 */
export function compressionFromKey(key: string): StoredCompression {
  const lower = key.toLowerCase();
  for (const [extension, method] of readableExtensions()) {
    if (extension !== '' && lower.endsWith(extension)) return method;
  }
  const unsupported = UNSUPPORTED_EXTENSIONS.find((e) => lower.endsWith(e));
  if (unsupported !== undefined) {
    throw new WalshipError('CODEC_UNSUPPORTED', `${key}: ${unsupported} compression is not supported by walship`);
  }
  return 'none';
}

export function encodingMetadata(e: Encoding): Record<string, string> {
  return { [COMPRESSION_METADATA]: e.compression, [ENCRYPTION_METADATA]: e.encrypted ? 'openpgp' : 'none' };
}

/**
 * The encoding of a stored object: its metadata where present, else the
 * key's extension for compression and `fallbackEncrypted` for encryption.
 */
export function encodingFromMetadata(key: string, meta: Record<string, string> | undefined, fallbackEncrypted: boolean): StoredEncoding {
  const compressionValue = metadataValue(meta, COMPRESSION_METADATA);
  const encryptionValue = metadataValue(meta, ENCRYPTION_METADATA);
  const compression = compressionValue === undefined ? compressionFromKey(key) : asCompressionMethod(compressionValue, `${key}: ${COMPRESSION_METADATA}`);
  let encrypted = fallbackEncrypted;
  if (encryptionValue !== undefined) {
    if (!Object.hasOwn(ENCRYPTION_VALUES, encryptionValue)) {
      throw new WalshipError('CODEC_UNSUPPORTED', `${key}: unknown ${ENCRYPTION_METADATA} ${JSON.stringify(encryptionValue)}`);
    }
    encrypted = ENCRYPTION_VALUES[encryptionValue as keyof typeof ENCRYPTION_VALUES];
  }
  return { compression, encrypted };
}

/** `value` as a CompressionMethod; CODEC_UNSUPPORTED naming `what` otherwise. */
export function asCompressionMethod(value: string, what: string): CompressionMethod {
  if (Object.hasOwn(EXTENSIONS, value)) return value as CompressionMethod;
  throw new WalshipError('CODEC_UNSUPPORTED', `${what}: unknown compression method ${JSON.stringify(value)}`);
}

/** Stores differ in the case they return metadata keys in, so look them up case-blind. */
function metadataValue(meta: Record<string, string> | undefined, name: string): string | undefined {
  if (meta === undefined) return undefined;
  for (const [key, value] of Object.entries(meta)) {
    if (key.toLowerCase() === name) return value.trim().toLowerCase();
  }
  return undefined;
}
