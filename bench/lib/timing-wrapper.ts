import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chownToPostgres } from '../../test/support/pg-cluster.ts';
import { summarize, type Summary } from './stats.ts';

// How long PostgreSQL waits for archive_command / restore_command, measured
// the same way for every tool: a tiny bash wrapper around the real command
// that appends "start_ns end_ns exit_code args..." per call to a log file.
// It reads the clock from bash's EPOCHREALTIME (microseconds), not from
// `date`: a fork and exec of date inside the timed span would cost a few
// milliseconds on a busy two-core machine, and be counted against every
// tool. What is left of its own cost is measured by timing a no-op through
// it, so it can be told apart from the tools' figures.

const run = promisify(execFile);

const SCRIPT = `#!/bin/bash
# usage: timed LOGFILE CGROUP_PROCS|- COMMAND [ARGS...]  (written by bench/lib/timing-wrapper.ts)
# Appends "start_ns end_ns exit_code args" per call to LOGFILE. The command
# runs in a subshell that first joins the tool's CPU-accounting cgroup
# (read and echo are builtins: no fork), so the tool's CPU is counted apart
# from PostgreSQL's and the wrapper's. No "exec": bash runs the last command
# of a subshell in place anyway, and a builtin no-op stays a builtin.
log=$1
group=$2
shift 2
s=$EPOCHREALTIME
(
  if [ "$group" != - ]; then
    read -r pid _ </proc/self/stat && echo "$pid" >"$group"
  fi
  "$@"
)
rc=$?
e=$EPOCHREALTIME
printf '%s000 %s000 %s %s\\n' "\${s/[.,]/}" "\${e/[.,]/}" "$rc" "$*" >>"$log"
exit $rc
`;

export interface TimedCall {
  startNs: bigint;
  endNs: bigint;
  exitCode: number;
  args: string;
  ms: number;
}

/** Writes the wrapper into dir (postgres-readable) and returns its path. */
export async function installTimingWrapper(dir: string): Promise<string> {
  const path = join(dir, 'timed');
  await writeFile(path, SCRIPT);
  await chmod(path, 0o755);
  await chownToPostgres(path);
  return path;
}

/** The shell command line PostgreSQL runs: the wrapper, its log, the CPU group to join (if any), then the real command. */
export function wrapCommand(wrapper: string, log: string, command: string, cpuGroupProcs?: string): string {
  return `${wrapper} ${log} ${cpuGroupProcs ?? '-'} ${command}`;
}

export async function readTimedCalls(log: string): Promise<TimedCall[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [s, e, rc, ...args] = line.split(' ');
      const startNs = BigInt(s!);
      const endNs = BigInt(e!);
      return { startNs, endNs, exitCode: Number(rc), args: args.join(' '), ms: Number(endNs - startNs) / 1e6 };
    });
}

/** Creates (or empties) a log file postgres may append to. */
export async function resetTimingLog(log: string): Promise<void> {
  await writeFile(log, '');
  await chownToPostgres(log);
}

export interface WrapperOverhead {
  /** A shell builtin through the wrapper: the wrapper's own cost (the subshell and the second date fork). */
  builtinNoop: Summary;
  /** /bin/true through the wrapper: adds one fork+exec, the floor for any external command. */
  execNoop: Summary;
}

/** Times `calls` no-op calls through the wrapper, as postgres, in one shell loop (so only the wrapper is timed). */
export async function measureWrapperOverhead(wrapper: string, dir: string, calls = 200): Promise<WrapperOverhead> {
  const measure = async (noop: string) => {
    const log = join(dir, `overhead-${noop.replace(/\W/g, '')}.log`);
    await resetTimingLog(log);
    const loop = `i=0; while [ $i -lt ${calls} ]; do ${wrapCommand(wrapper, log, noop)}; i=$((i+1)); done`;
    const asRoot = process.getuid?.() === 0;
    await (asRoot ? run('runuser', ['-u', 'postgres', '--', 'sh', '-c', loop]) : run('sh', ['-c', loop]));
    return summarize((await readTimedCalls(log)).map((c) => c.ms));
  };
  return { builtinNoop: await measure('true'), execNoop: await measure('/bin/true') };
}
