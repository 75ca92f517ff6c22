import { chown, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// CPU time a tool spends, whatever the machine's other load: wall times on
// a shared 2-core machine swing with everyone else's work, CPU seconds much
// less. Each tool gets its own cgroup (v1 cpuacct) that its processes join:
// the agent is moved in by pid, and the timing wrapper moves the command it
// runs (so the sh client, pgBackRest, its async workers and `walship
// wal-push` are all inside, and stay inside when they daemonize). Without
// root or a cpuacct hierarchy the figures are simply left out.

const CPUACCT = '/sys/fs/cgroup/cpuacct';

export interface CpuGroup {
  name: string;
  /** The file a process writes its pid to in order to join (the timing wrapper's second argument). */
  procsFile: string;
  addPid(pid: number): Promise<void>;
  /** CPU seconds (user + system) used by everything that ever ran in the group. */
  usageSeconds(): Promise<number>;
  remove(): Promise<void>;
}

export async function createCpuGroup(name: string, owner?: { uid: number; gid: number }): Promise<CpuGroup | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const dir = join(CPUACCT, name);
  try {
    await readFile(join(CPUACCT, 'cpuacct.usage'), 'utf8');
    await mkdir(dir);
  } catch {
    return undefined;
  }
  const procsFile = join(dir, 'cgroup.procs');
  // The wrapper runs as postgres and moves itself in.
  if (owner) await chown(procsFile, owner.uid, owner.gid);
  return {
    name,
    procsFile,
    addPid: (pid) => writeFile(procsFile, `${pid}\n`),
    usageSeconds: async () => Number(await readFile(join(dir, 'cpuacct.usage'), 'utf8')) / 1e9,
    async remove() {
      // Its processes may still be exiting; a group can only be removed once empty.
      for (let attempt = 0; ; attempt++) {
        const procs = (await readFile(procsFile, 'utf8').catch(() => '')).trim();
        if (procs === '') break;
        if (attempt >= 50) throw new Error(`cgroup ${dir} still has processes ${procs.replace(/\n/g, ' ')}; left in place`);
        await sleep(100);
      }
      await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    },
  };
}
