import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from '../demo/exec.ts';
import { WalshipError } from '../errors.ts';

// The PostgreSQL server binaries of one major version, for a restore
// drill: a server of another major cannot start the backup's data
// directory. Looked for where the brief of each packaging puts them: the
// directory given, PATH, Debian and PGDG's /usr/lib/postgresql/<major>/bin,
// PGDG RPMs' /usr/pgsql-<major>/bin.

export interface ServerBinaries {
  binDir: string;
  /** e.g. "15.18" */
  version: string;
  major: number;
}

async function hasAll(dir: string, needed: readonly string[]): Promise<boolean> {
  for (const name of needed) {
    try {
      await access(join(dir, name), constants.X_OK);
    } catch {
      return false;
    }
  }
  return true;
}

async function versionIn(dir: string, path: string): Promise<{ version: string; major: number } | undefined> {
  try {
    const out = (await exec(join(dir, 'postgres'), ['--version'], { env: { PATH: path }, cwd: '/' })).stdout;
    const version = /\(PostgreSQL\)\s+(\d+)(\.\d+)?/.exec(out);
    return version ? { version: `${version[1]}${version[2] ?? ''}`, major: Number(version[1]) } : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL's major version from server_version_num (150018 → 15; 90624 → 9). */
export function majorOf(serverVersionNum: number): number {
  return Math.floor(serverVersionNum / 10000);
}

export async function findServerBinaries(options: { explicit?: string; path: string; major: number; needed: readonly string[] }): Promise<ServerBinaries> {
  const candidates = options.explicit !== undefined
    ? [options.explicit]
    : [...options.path.split(':').filter(Boolean), join('/usr/lib/postgresql', String(options.major), 'bin'), `/usr/pgsql-${options.major}/bin`];
  const seen: string[] = [];
  for (const dir of candidates) {
    if (!(await hasAll(dir, options.needed))) continue;
    const found = await versionIn(dir, options.path);
    if (found?.major === options.major) return { binDir: dir, ...found };
    seen.push(`${dir} (${found ? `PostgreSQL ${found.version}` : 'no version'})`);
  }
  const where = options.explicit !== undefined ? `WALSHIP_PGBIN=${options.explicit}` : `PATH, /usr/lib/postgresql/${options.major}/bin and /usr/pgsql-${options.major}/bin`;
  throw new WalshipError(
    'DRILL_REFUSED',
    `a restore drill needs the PostgreSQL ${options.major} server binaries (${options.needed.join(', ')}) and found none in ${where}${seen.length ? `; found other versions: ${seen.join(', ')}` : ''}. Install them, or set WALSHIP_PGBIN to their directory`,
  );
}

/** A command on PATH, or in the sbin directories a non-login PATH may lack. */
export async function which(name: string, path: string): Promise<string | undefined> {
  for (const dir of [...path.split(':').filter(Boolean), '/usr/sbin', '/sbin']) {
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
  /** The command prefix that runs a command as this user. */
  prefix: string[];
}

/**
 * The user the server runs as: as root (PostgreSQL refuses root), `name`
 * through runuser; otherwise ourselves, with no prefix.
 */
export async function serverUser(name: string, path: string): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const env = { PATH: path };
    const uid = Number((await exec('id', ['-u', name], { env, cwd: '/' })).stdout.trim());
    const gid = Number((await exec('id', ['-g', name], { env, cwd: '/' })).stdout.trim());
    const runuser = await which('runuser', path);
    if (runuser === undefined) throw new Error('no runuser');
    return { name, uid, gid, prefix: [runuser, '-u', name, '--'] };
  } catch {
    throw new WalshipError('DRILL_REFUSED', `walship runs as root, and PostgreSQL refuses to: a restore drill runs it as WALSHIP_DRILL_USER=${name} through runuser, and there is no such user or no runuser. Create the user, set WALSHIP_DRILL_USER, or run walship as the postgres user`);
  }
}
