import { execFile } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PG_BIN } from '../../test/support/pg-cluster.ts';

// What a bench ran on, printed and saved beside its figures: on a shared
// 2-core machine the load average explains much of the spread between runs.

const run = promisify(execFile);

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  postgres: string;
  pgbackrest: string;
  loadAtStart: number[];
}

const version = (cmd: string, args: string[]) =>
  run(cmd, args).then(
    (r) => r.stdout.trim(),
    () => 'not installed',
  );

export async function machineInfo(): Promise<MachineInfo> {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    postgres: await version(join(PG_BIN, 'postgres'), ['--version']),
    pgbackrest: await version('pgbackrest', ['version']),
    loadAtStart: loadNow(),
  };
}

/** 1-, 5- and 15-minute load averages, rounded. */
export function loadNow(): number[] {
  return loadavg().map((l) => Math.round(l * 100) / 100);
}
