import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

// Sizes of what a tool stored, for the compression ratio beside the timings.

/** Total bytes of the regular files under dir (0 when it does not exist). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}
