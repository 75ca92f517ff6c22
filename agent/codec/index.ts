// The codec's public surface: everything outside agent/codec imports from here.

export { createCodec, type Codec } from './pipeline.ts';
export type { GrowingEncoder } from './growing-encoder.ts';
export {
  COMPRESSION_EXTENSIONS,
  compressionFromKey,
  encodingFromMetadata,
  encodingMetadata,
  extensionFor,
  readableExtensions,
  withoutCompressionExtension,
  type Encoding,
  type StoredEncoding,
} from './encoding.ts';
