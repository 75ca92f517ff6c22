import { readdir, readFile } from 'node:fs/promises';

// What a run of `walship demo` may have left behind: processes whose
// command line or environment names its workspace. PostgreSQL's processes
// carry the data directory on their command line (postgres -D ...); the
// agents and walship-client carry the spool directory in their environment.

export interface Leftover {
  pid: number;
  cmdline: string;
}

export async function processesMentioning(path: string): Promise<Leftover[]> {
  const found: Leftover[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const read = (file: string) => readFile(`/proc/${entry}/${file}`).then((b) => b.toString().replace(/\0/g, ' '), () => '');
    const cmdline = await read('cmdline');
    const environ = await read('environ');
    if (cmdline.includes(path) || environ.includes(path)) found.push({ pid: Number(entry), cmdline: cmdline.trim() });
  }
  return found;
}
