import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Pipes source into transform and returns the transform, with the source's
 * errors carried to it, so the result can be handed on as one readable.
 */
export function through<T extends Transform>(source: Readable, transform: T): T {
  pipeline(source, transform).catch(() => undefined);
  return transform;
}
