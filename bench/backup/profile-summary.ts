// Where a walship process spends its main thread, from a V8 CPU profile
// (node --cpu-prof, as `bench/backup/run.ts --cpu-prof DIR` writes them):
//
//   node bench/backup/profile-summary.ts FILE.cpuprofile [--top 25]
//
// Prints self time by function (with its file and line) and by area
// (the project's own code by file, each npm package, Node internals by
// module, GC, native/program, idle). Only the main thread is profiled:
// work on libuv's threadpool (file reads and writes, lz4-napi's
// compression) shows as idle here, and its CPU is in the bench's cgroup
// figures instead.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatTable } from '../lib/table.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
if (positionals.length === 0) throw new Error('usage: node bench/backup/profile-summary.ts FILE.cpuprofile [--top N]');

function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (['(garbage collector)', '(idle)', '(program)', '(root)'].includes(functionName)) return functionName;
    return `native: ${functionName || '(anonymous)'}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm: ${pkg[1]}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node internal: ').replace(/^node:/, 'node: ');
  const own = /\/dist\/(.+)$/.exec(url);
  if (own) return `walship: ${own[1]}`;
  return url.replace(/^file:\/\//, '');
}

for (const file of positionals) {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = profile.endTime - profile.startTime;

  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const where = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:')}:${f.lineNumber + 1}`;
    const key = `${f.functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const a = area(f);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  const idle = byArea.get('(idle)') ?? 0;
  const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1)}%`;
  const ms = (us: number) => (us / 1000).toFixed(0);
  const top = Number(values.top);
  process.stdout.write(
    [
      `${file}: ${(totalUs / 1e6).toFixed(2)} s profiled, main thread busy ${((totalUs - idle) / 1e6).toFixed(2)} s (${pct(totalUs - idle)}), idle ${(idle / 1e6).toFixed(2)} s`,
      '',
      formatTable(
        ['self time by area', 'ms', 'share'],
        [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => [k, ms(us), pct(us)]),
      ),
      '',
      formatTable(
        ['self time by function', 'ms', 'share'],
        [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => [k, ms(us), pct(us)]),
      ),
      '',
    ].join('\n'),
  );
}
