import { join } from 'node:path';
import type pg from 'pg';
import type { BackupManifest } from '../backup/manifest.ts';
import { exec } from '../demo/exec.ts';
import { parseControlFile } from '../pg/control-file.ts';
import type { ServerUser } from '../pg/server-binaries.ts';
import { parseLsn } from '../wal/names.ts';
import type { DrillCheck } from './report.ts';

// The checks a drill runs on the recovered cluster: it answers queries
// out of recovery; pg_controldata (after a clean stop) agrees with the
// manifest; optionally amcheck on every btree index of every database, and
// a query of the user's that must return true.

export async function acceptsQueries(client: pg.Client): Promise<DrillCheck> {
  const { rows } = await client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
  return rows[0]!.r ? { name: 'accepts-queries', ok: false, detail: 'still in recovery' } : { name: 'accepts-queries', ok: true, detail: 'out of recovery, answering queries' };
}

export function consistent(serverLog: string): DrillCheck {
  const m = /consistent recovery state reached at ([0-9A-F]+\/[0-9A-F]+)/.exec(serverLog);
  return m ? { name: 'consistent', ok: true, detail: `consistent recovery state reached at ${m[1]}` } : { name: 'consistent', ok: false, detail: 'the server log does not say it reached a consistent state' };
}

/** The user's query: one row whose first column is true. */
export async function userQuery(client: pg.Client, sql: string): Promise<DrillCheck> {
  try {
    const result = await client.query({ text: sql, rowMode: 'array' });
    const value = (result.rows as unknown[][])[0]?.[0];
    if (result.rows.length === 1 && value === true) return { name: 'query', ok: true, detail: `${sql} returned true` };
    return { name: 'query', ok: false, detail: `${sql} returned ${result.rows.length === 0 ? 'no row' : JSON.stringify(value)}${result.rows.length > 1 ? ` (and ${result.rows.length - 1} more rows)` : ''}, not one row with true` };
  } catch (err) {
    return { name: 'query', ok: false, detail: `${sql} failed: ${(err as Error).message}` };
  }
}

/** bt_index_check on every btree index of every database that accepts connections. */
export async function amcheck(connect: (database: string) => Promise<pg.Client>, first: pg.Client): Promise<DrillCheck> {
  const { rows: dbs } = await first.query<{ datname: string }>('select datname from pg_database where datallowconn order by datname');
  let indexes = 0;
  const failed: string[] = [];
  for (const { datname } of dbs) {
    const client = await connect(datname);
    try {
      try {
        await client.query('create extension if not exists amcheck');
      } catch (err) {
        return { name: 'amcheck', ok: false, detail: `create extension amcheck in ${datname}: ${(err as Error).message} (the server binaries lack contrib's amcheck?)` };
      }
      const { rows } = await client.query<{ oid: number; name: string }>(
        `select c.oid, c.oid::regclass::text as name from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam
         where a.amname = 'btree' and c.relpersistence <> 't' and i.indisready and i.indisvalid order by 1`,
      );
      for (const index of rows) {
        indexes++;
        try {
          await client.query('select bt_index_check($1::regclass)', [index.oid]);
        } catch (err) {
          failed.push(`${datname}.${index.name}: ${(err as Error).message}`);
        }
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return failed.length === 0
    ? { name: 'amcheck', ok: true, detail: `bt_index_check passed on ${indexes} btree indexes in ${dbs.length} databases` }
    : { name: 'amcheck', ok: false, detail: `${failed.length} of ${indexes} btree indexes failed bt_index_check: ${failed.slice(0, 5).join('; ')}` };
}

/** pg_controldata's "Name: value" lines. */
export function parseControlData(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return fields;
}

/** pg_controldata of the stopped cluster against the manifest: same cluster, shut down cleanly, past the backup's end. */
export async function controlData(binDir: string, dataDir: string, user: ServerUser | undefined, manifest: BackupManifest, path: string): Promise<DrillCheck> {
  const [command, ...args] = [...(user?.prefix ?? []), join(binDir, 'pg_controldata'), '-D', dataDir];
  const out = await exec(command!, args, { env: { PATH: path, LC_ALL: 'C' }, cwd: '/' });
  const f = parseControlData(out.stdout);
  const wrong: string[] = [];
  const systemId = f.get('Database system identifier');
  if (systemId !== manifest.systemIdentifier) wrong.push(`system identifier ${systemId}, the backup's is ${manifest.systemIdentifier}`);
  const state = f.get('Database cluster state');
  if (state !== 'shut down') wrong.push(`cluster state "${state}", expected "shut down" after the drill's clean stop`);
  const timeline = Number(f.get("Latest checkpoint's TimeLineID"));
  if (!(timeline > manifest.timeline)) wrong.push(`timeline ${timeline}: recovery should have promoted past the backup's timeline ${manifest.timeline}`);
  const checkpoint = f.get('Latest checkpoint location');
  if (checkpoint === undefined || parseLsn(checkpoint) < parseLsn(manifest.stopLsn)) wrong.push(`latest checkpoint ${checkpoint} is before the backup's end ${manifest.stopLsn}`);
  const backupControl = parseControlFile(Buffer.from(manifest.pgControl, 'base64'));
  const checksums = f.get('Data page checksum version');
  if (backupControl && checksums !== (backupControl.dataChecksums ? '1' : '0')) wrong.push(`data page checksum version ${checksums}, the backup's ${backupControl.dataChecksums ? 1 : 0}`);
  return wrong.length === 0
    ? { name: 'controldata', ok: true, detail: `system identifier ${systemId}, timeline ${timeline} (backup ${manifest.timeline}), checkpoint ${checkpoint} past the backup's end ${manifest.stopLsn}, shut down cleanly` }
    : { name: 'controldata', ok: false, detail: wrong.join('; ') };
}
