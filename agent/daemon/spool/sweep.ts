import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isTempName, type SpoolLayout } from './layout.ts';
import { isMissing, spoolIoError } from './fs-errors.ts';

// Removes what nobody will ever come back for: answer channels (FIFOs) of
// clients that were killed before they could remove them, and temp files of
// writers that died midway.
// Requests themselves are never swept: a queued one is served as soon as an
// agent runs, a claimed one is being served (or is served again at the next
// start-up).

export async function sweepStale(layout: SpoolLayout, maxAgeMs: number, onError: (err: unknown) => void): Promise<void> {
  const cutoff = Date.now() - maxAgeMs;
  const sweep = async (dir: string, isLeftover: (name: string) => boolean) => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      onError(spoolIoError(`cannot list ${dir} to sweep it`, err));
      return;
    }
    for (const name of names.filter(isLeftover)) {
      const path = join(dir, name);
      try {
        if ((await lstat(path)).mtimeMs < cutoff) await rm(path, { force: true });
      } catch (err) {
        if (!isMissing(err)) onError(spoolIoError(`cannot sweep ${path}`, err));
      }
    }
  };
  await sweep(layout.reqDir, isTempName);
  await sweep(layout.respDir, () => true);
}
