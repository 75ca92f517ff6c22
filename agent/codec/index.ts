// The codec's public surface: everything outside agent/codec imports from here.

export { createCodec, type Codec } from './pipeline.ts';
export type { GrowingEncoder } from './growing-encoder.ts';
export { compressionFromKey, encodingFromMetadata, encodingMetadata, extensionFor, readableExtensions, type Encoding, type StoredEncoding } from './encoding.ts';
