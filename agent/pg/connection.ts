import pg from 'pg';
import type { PgConnectionConfig } from '../config/types.ts';
import { WalshipError } from '../errors.ts';

// One way to reach PostgreSQL, from the PG* settings, with a connect deadline:
// a backup must fail clearly when the server is down, not hang.

export async function connectPg(config: PgConnectionConfig, connectTimeoutMs = 10_000): Promise<pg.Client> {
  const client = new pg.Client({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database ?? 'postgres',
    application_name: 'walship',
    connectionTimeoutMillis: connectTimeoutMs,
  });
  // An idle client's socket error must not crash the process; the next query reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const where = `${config.host ?? 'localhost'}:${config.port}`;
    throw new WalshipError('PG_UNREACHABLE', `cannot connect to PostgreSQL at ${where} as ${config.user ?? '(default user)'}: ${(err as Error).message}`, { cause: err });
  }
  return client;
}

export async function queryOne<T extends pg.QueryResultRow>(client: pg.Client, sql: string, params: unknown[] = []): Promise<T> {
  const result = await client.query<T>(sql, params);
  const row = result.rows[0];
  if (!row) throw new WalshipError('INTERNAL', `query returned no row: ${sql}`);
  return row;
}
