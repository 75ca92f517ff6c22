import { chmod, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { WalshipError } from '../errors.ts';
import type { PgTools } from './postgres-tools.ts';

// Everything the demo makes lives under one temporary directory, laid out
// like the pod it imitates, so one removal undoes it all:
//
//   walship-demo-XXXXXX/
//     store/                  the archive: a filesystem store
//     primary/data            the cluster that archives
//     primary/socket          its private socket directory
//     primary/postgres.log
//     primary/walship/        install-client's directory (the pod's shared emptyDir):
//                             walship-client, spool/, agent.log
//     restored/...            the same for the cluster restored from the archive

export interface Side {
  root: string;
  /** walship-client and spool/, as `walship install-client` makes them. */
  walshipDir: string;
  client: string;
  spool: string;
  agentLog: string;
}

export class Workspace {
  readonly root: string;
  readonly store: string;
  private readonly tools: PgTools;

  private constructor(root: string, tools: PgTools) {
    this.root = root;
    this.store = join(root, 'store');
    this.tools = tools;
  }

  static async create(tmpRoot: string, tools: PgTools): Promise<Workspace> {
    const root = await mkdtemp(join(tmpRoot, 'walship-demo-'));
    const ws = new Workspace(root, tools);
    await tools.own(root);
    if (tools.serverUser) {
      // The server's user must reach its files through every parent directory.
      try {
        await tools.runAs('test', ['-w', root]);
      } catch {
        await rm(root, { recursive: true, force: true });
        throw new WalshipError('IO_FAILED', `the ${tools.serverUser.name} user cannot reach ${root} (a parent directory keeps it out): point TMPDIR at a directory it can reach, such as /tmp`);
      }
    }
    await mkdir(ws.store);
    return ws;
  }

  /** A cluster's directory, given to the server's user. */
  async side(name: string): Promise<Side> {
    const root = join(this.root, name);
    await mkdir(root);
    await this.tools.own(root);
    const walshipDir = join(root, 'walship');
    return { root, walshipDir, client: join(walshipDir, 'walship-client'), spool: join(walshipDir, 'spool'), agentLog: join(walshipDir, 'agent.log') };
  }

  /** After install-client: the server's user runs the client and writes requests into spool/. */
  async shareClient(side: Side): Promise<void> {
    await chmod(side.walshipDir, 0o755);
    await this.tools.own(side.walshipDir);
    await this.tools.own(side.spool);
  }

  /** A path as shown in the report: relative to the workspace. */
  show(path: string): string {
    return relative(this.root, path) || '.';
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Files under dir whose names match, and their total size. */
export async function filesUnder(dir: string, match: RegExp): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || !match.test(e.name)) continue;
    files++;
    bytes += (await stat(join(e.parentPath, e.name))).size;
  }
  return { files, bytes };
}
