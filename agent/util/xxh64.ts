import { Xxh64 } from '@node-rs/xxhash';
import type { Hasher } from './hash-stream.ts';

/** xxh64 (seed 0) as a Hasher: 16 lower-case hex digits, what `xxhsum -H64` prints. */
export function createXxh64(): Hasher {
  const state = new Xxh64();
  return {
    update(chunk) {
      state.update(chunk);
    },
    digest: () => state.digest().toString(16).padStart(16, '0'),
  };
}
