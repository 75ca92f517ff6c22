import { chmod, chown, mkdir } from 'node:fs/promises';
import { spoolIoError } from './fs-errors.ts';
import type { Owner, SpoolLayout } from './layout.ts';

// Who may use the spool: its owner and its group. The group matters when
// the two containers run as different uids that share Kubernetes' fsGroup;
// the setgid bit makes files created inside inherit that group. When the
// agent runs as root (tests, some images) and PostgreSQL does not, the
// caller passes postgres's uid/gid as the owner and everything is chowned.

export const SPOOL_DIR_MODE = 0o2770;

/** Creates the spool's directories with the right owner and modes; IO_FAILED names what failed. */
export async function prepareSpoolDirs(layout: SpoolLayout, owner: Owner | undefined): Promise<void> {
  const adopt = async (dir: string) => {
    // chmod, not mkdir's mode: the process umask must not narrow it.
    await chmod(dir, SPOOL_DIR_MODE);
    if (owner) await chown(dir, owner.uid, owner.gid);
  };
  try {
    const created = await mkdir(layout.dir, { recursive: true });
    // An existing top directory (say, a volume's root) belongs to the
    // operator; a new one is ours to set up.
    if (created !== undefined) await adopt(layout.dir);
    for (const dir of [layout.reqDir, layout.respDir]) {
      await mkdir(dir, { recursive: true });
      await adopt(dir);
    }
  } catch (err) {
    throw spoolIoError(`cannot set up the spool directory ${layout.dir}`, err);
  }
}
