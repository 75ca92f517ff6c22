import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

// The filesystem store's own files live beside the objects, hidden by a
// leading dot and a suffix no object key may use.

const META_SUFFIX = '.walship-meta';
const TEMP_SUFFIX = '.walship-tmp';

export function metaPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}${META_SUFFIX}`);
}

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
}

/** True for the store's own sidecar and temp files, which are never objects. */
export function isInternalName(name: string): boolean {
  return name.startsWith('.') && (name.endsWith(META_SUFFIX) || name.endsWith(TEMP_SUFFIX));
}
