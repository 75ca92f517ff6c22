import { spawn } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Cleanup } from './cleanup.ts';
import { createCpuGroup } from './cpu-account.ts';
import { loadNow } from './machine.ts';

// One run of a tool's command, measured the same way whatever the tool:
// wall time; CPU seconds of its whole process tree (its own cpuacct cgroup,
// joined before exec, so forked workers and helper processes count too);
// GNU time's user/sys and peak RSS (ru_maxrss of waited-for children is the
// largest single process, not a sum); and the summed RSS of all the tool's
// processes at once, sampled from /proc (pgBackRest's process-max workers
// are separate processes, so its largest process understates its footprint).

const TIME = '/usr/bin/time';

export interface MeasuredRunOptions {
  /** Unique per run in this bench: names the cgroup and the GNU time output file. */
  name: string;
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  /** Run as the postgres user (through runuser) when we are root. */
  asPostgres: boolean;
  /** A postgres-writable directory for GNU time's output. */
  workDir: string;
  /** Executables (base name of /proc/PID/exe) that are the tool's own, for the summed RSS: e.g. node, pgbackrest. Not comm: Node names its main thread MainThread. */
  toolExes: readonly string[];
  sampleMs?: number;
}

export interface MeasuredRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  /** user + system of every process in the run's cgroup (undefined without cgroup accounting). */
  cpuSeconds?: number;
  /** GNU time: user and system seconds of the command and its waited-for descendants. */
  userSeconds: number;
  systemSeconds: number;
  /** GNU time %M: peak RSS of the largest single process of the tree, KiB. */
  peakRssKiB: number;
  /** Largest sum of VmRSS over the tool's processes at one sample, KiB (undefined without a cgroup). */
  peakTreeRssKiB?: number;
  /** Most tool processes seen at once. */
  maxToolProcesses?: number;
  /** Per tool process seen: its executable and its own VmHWM at the last sample, KiB. */
  processes?: { pid: number; exe: string; hwmKiB: number }[];
  /**
   * CPU seconds by thread kind (process role + thread name, e.g. node/MainThread,
   * node/libuv-worker, pgbackrest local/pgbackrest), from /proc/PID/task/TID/stat
   * at the last sample each thread was seen in: says whether one thread is the
   * bottleneck. Misses at most one sampling interval per thread.
   */
  threads?: { kind: string; threads: number; cpuSeconds: number }[];
  loadAtStart: number[];
  /** Date.now() when the command was spawned: for phases read from the tool's timestamped log. */
  startedAtMs: number;
}

async function procStatus(pid: string): Promise<{ exe: string; rssKiB: number; hwmKiB: number } | undefined> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => undefined);
  if (!text || !exe) return undefined;
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(text);
    return m ? m[1]! : '';
  };
  return { exe: basename(exe), rssKiB: Number(field('VmRSS')) || 0, hwmKiB: Number(field('VmHWM')) || 0 };
}

const TICKS_PER_SECOND = 100;

/** A process's role: its executable, and for pgBackRest whether it is a worker (…:local / …:remote in its command line). */
async function processRole(pid: string, exe: string): Promise<string> {
  if (exe !== 'pgbackrest') return exe;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const m = /:(local|remote)\0/.exec(cmdline);
  return m ? `pgbackrest ${m[1]}` : 'pgbackrest main';
}

/** Per thread: name and user+system ticks. */
async function threadTicks(pid: string): Promise<{ tid: string; comm: string; ticks: number }[]> {
  const out: { tid: string; comm: string; ticks: number }[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // After the comm: state is field 3, utime field 14, stime field 15 (1-based, whole line).
    out.push({ tid, comm, ticks: Number(fields[11]) + Number(fields[12]) });
  }
  return out;
}

export async function measuredRun(cleanup: Cleanup, options: MeasuredRunOptions): Promise<MeasuredRun> {
  const asRoot = process.getuid?.() === 0;
  const cpu = await createCpuGroup(`walship-bench-${process.pid}-${options.name}`);
  const removeGroup = cpu ? cleanup.defer(`remove cgroup ${cpu.name}`, () => cpu.remove()) : undefined;
  const timeFile = join(options.workDir, `${options.name}.time`);
  const timed = [TIME, '-o', timeFile, '-f', '%e %U %S %M', options.command, ...options.args];
  const envArgs = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
  const inner = options.asPostgres && asRoot ? ['runuser', '-u', 'postgres', '--', 'env', ...envArgs, ...timed] : ['env', ...envArgs, ...timed];
  // sh joins the cgroup, then execs the rest: everything from here on is accounted.
  const argv = cpu ? ['sh', '-c', 'echo $$ > "$0" && exec "$@"', cpu.procsFile, ...inner] : inner;

  const toolExes = new Set(options.toolExes);
  const hwm = new Map<number, { exe: string; hwmKiB: number }>();
  const roles = new Map<string, string>();
  const threadCpu = new Map<string, { kind: string; ticks: number }>();
  let peakTree = 0;
  let maxProcs = 0;
  let sampling = false;
  const sample = async () => {
    if (!cpu || sampling) return;
    sampling = true;
    try {
      const pids = (await readFile(cpu.procsFile, 'utf8').catch(() => '')).split('\n').filter((p) => p !== '');
      let sum = 0;
      let count = 0;
      for (const pid of pids) {
        const st = await procStatus(pid);
        if (!st || !toolExes.has(st.exe)) continue;
        sum += st.rssKiB;
        count++;
        hwm.set(Number(pid), { exe: st.exe, hwmKiB: Math.max(st.hwmKiB, hwm.get(Number(pid))?.hwmKiB ?? 0) });
        if (!roles.has(pid)) roles.set(pid, await processRole(pid, st.exe));
        for (const t of await threadTicks(pid)) threadCpu.set(`${pid}/${t.tid}`, { kind: `${roles.get(pid)}/${t.comm}`, ticks: t.ticks });
      }
      peakTree = Math.max(peakTree, sum);
      maxProcs = Math.max(maxProcs, count);
    } finally {
      sampling = false;
    }
  };

  const loadAtStart = loadNow();
  const startedAtMs = Date.now();
  const t0 = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  // On an interrupt: every process of the run, by pid from its cgroup (runuser passes SIGTERM on to GNU time, which
  // would die and leave the tool running), then the direct child.
  const killChild = cleanup.defer(`kill ${options.name}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const pids = cpu ? (await readFile(cpu.procsFile, 'utf8').catch(() => '')).split('\n').filter((p) => p !== '') : [];
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    child.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => child.once('close', resolve)), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  });
  const timer = setInterval(() => void sample(), options.sampleMs ?? 50);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  await killChild();
  const cpuSeconds = await cpu?.usageSeconds();
  await removeGroup?.();

  // GNU time writes "Command exited with non-zero status N" first when the command failed.
  const timeLine = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n').at(-1) ?? '';
  const [, user, sys, maxrss] = timeLine.split(' ').map(Number);
  return {
    exitCode,
    stdout,
    stderr,
    wallSeconds,
    ...(cpuSeconds !== undefined ? { cpuSeconds } : {}),
    userSeconds: user ?? Number.NaN,
    systemSeconds: sys ?? Number.NaN,
    peakRssKiB: maxrss ?? Number.NaN,
    ...(cpu ? { peakTreeRssKiB: peakTree, maxToolProcesses: maxProcs, processes: [...hwm].map(([pid, p]) => ({ pid, ...p })), threads: byKind(threadCpu) } : {}),
    loadAtStart,
    startedAtMs,
  };
}

function byKind(threadCpu: Map<string, { kind: string; ticks: number }>): { kind: string; threads: number; cpuSeconds: number }[] {
  const kinds = new Map<string, { threads: number; ticks: number }>();
  for (const { kind, ticks } of threadCpu.values()) {
    const k = kinds.get(kind) ?? { threads: 0, ticks: 0 };
    k.threads++;
    k.ticks += ticks;
    kinds.set(kind, k);
  }
  return [...kinds]
    .map(([kind, k]) => ({ kind, threads: k.threads, cpuSeconds: k.ticks / TICKS_PER_SECOND }))
    .filter((k) => k.cpuSeconds > 0)
    .sort((a, b) => b.cpuSeconds - a.cpuSeconds);
}

/** A failed run as an Error with its output. */
export function runFailure(what: string, r: MeasuredRun): Error {
  return new Error(`${what} failed (exit ${r.exitCode})\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
}
