import { readFile, readdir } from 'node:fs/promises';

/** Processes whose command line mentions dir (a drill's scratch directory): what must never be left behind. */
export async function serversUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir)) found.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
  }
  return found;
}
