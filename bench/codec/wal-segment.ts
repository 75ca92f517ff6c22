// Produces a real 16 MiB WAL segment for the codec benchmark: a throwaway
// PostgreSQL 15 cluster, `pgbench -i`, and a copy of a completed segment.
// The cluster is stopped and deleted whatever happens.

import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const WAL_SEGMENT_BYTES = 16 << 20;
const run = promisify(execFile);

/** initdb and postgres refuse to run as root: run them as postgres then. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

async function pg(command: string, args: string[]): Promise<string> {
  const [file, argv] = asPostgres(join(PG_BIN, command), args);
  return (await run(file, argv, { maxBuffer: 16 << 20 })).stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function generateWalSegment(scale = 10, log: (line: string) => void = () => undefined): Promise<Buffer> {
  const root = await mkdtemp(join(tmpdir(), 'walship-bench-'));
  const data = join(root, 'data');
  const sockets = join(root, 'sockets');
  await mkdir(sockets, { mode: 0o755 });
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(root, Number(stdout), Number(gid));
    await chown(sockets, Number(stdout), Number(gid));
  }
  const port = await freePort();
  let started = false;
  try {
    log('initdb');
    await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    log(`starting PostgreSQL on port ${port}`);
    await pg('pg_ctl', ['-D', data, '-l', join(root, 'postgres.log'), '-w', '-o', `-p ${port} -k ${sockets} -c listen_addresses=''`, 'start']);
    started = true;
    const connection = ['-h', sockets, '-p', String(port), '-U', 'postgres'];
    log(`pgbench -i -s ${scale}`);
    await run('pgbench', ['-i', '-q', '-s', String(scale), ...connection, 'postgres'], { maxBuffer: 16 << 20 });
    const { stdout } = await run('psql', [...connection, '-At', '-c', 'select pg_walfile_name(pg_current_wal_lsn())', 'postgres']);
    const current = stdout.trim();
    await run('psql', [...connection, '-At', '-c', 'select pg_switch_wal()', 'postgres']);
    // Segments named below the current one are complete; later names may be
    // recycled files with stale content. The middle of the load is typical WAL.
    const completed = (await readdir(join(data, 'pg_wal'))).filter((name) => /^[0-9A-F]{24}$/.test(name) && name < current).sort();
    const chosen = completed[Math.floor(completed.length / 2)];
    if (chosen === undefined) throw new Error(`no completed WAL segment before ${current}`);
    log(`using WAL segment ${chosen} (of ${completed.length} completed)`);
    const segment = await readFile(join(data, 'pg_wal', chosen));
    if (segment.length !== WAL_SEGMENT_BYTES) throw new Error(`${chosen} has ${segment.length} bytes, not ${WAL_SEGMENT_BYTES}`);
    return segment;
  } finally {
    if (started) await pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}
