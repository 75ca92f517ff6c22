import assert from 'node:assert/strict';
import { chmod, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../agent/config/load.ts';
import type { StoreConfig } from '../../agent/config/types.ts';
import { openStore } from '../../agent/storage/open.ts';
import { openWalArchive } from '../../agent/wal/archive.ts';
import { fetchWalFile } from '../../agent/wal/fetch.ts';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.ts';
import { runWalship } from '../support/cli.ts';
import { PgCluster, chownToPostgres, postgresOwnedDir, type ClusterOptions } from '../support/pg-cluster.ts';
import { parsePrometheusText, type MetricFamily } from '../support/prom-parse.ts';

// The pod on one machine, for the agent's own tests: a PostgreSQL 15
// cluster whose archive_command is the sh client, and `walship agent`
// serving it from a spool directory, as users run them.

export interface Shared {
  dir: string;
  client: string;
  spool: string;
}

/** `walship install-client` into a directory the postgres user can use. */
export async function installClient(): Promise<Shared> {
  const dir = await postgresOwnedDir('walship-agent-shared-');
  await chmod(dir, 0o755);
  const r = await runWalship(['install-client', dir]);
  assert.equal(r.code, 0, r.stderr);
  await chownToPostgres(join(dir, 'spool'));
  return { dir, client: join(dir, 'walship-client'), spool: join(dir, 'spool') };
}

export interface Pod {
  cluster: PgCluster;
  shared: Shared;
  /** What the agent is started with: the store, PGDATA and the PG* connection, the spool. */
  agentEnv: Record<string, string>;
  agent: AgentProcess;
  /** Starts another agent with the same environment (after a stop), replacing `agent`. */
  restartAgent(): Promise<AgentProcess>;
  destroy(): Promise<void>;
}

/** A cluster archiving through the sh client to a running agent; the cluster is started last, as in a pod. */
export async function startPod(storeEnv: Record<string, string>, options: { agentEnv?: Record<string, string>; cluster?: ClusterOptions } = {}): Promise<Pod> {
  const shared = await installClient();
  const cluster = await PgCluster.create({
    ...options.cluster,
    conf: { archive_mode: 'on', archive_command: `${shared.client} wal-push %p`, archive_timeout: 0, ...(options.cluster?.conf ?? {}) },
  });
  const agentEnv = {
    ...storeEnv,
    PGDATA: cluster.dataDir,
    PGHOST: cluster.socketDir,
    PGPORT: String(cluster.port),
    PGUSER: 'postgres',
    WALSHIP_SPOOL_DIR: shared.spool,
    WALSHIP_BACKUP_SCHEDULE: 'off',
    ...(options.agentEnv ?? {}),
  };
  const pod: Pod = {
    cluster,
    shared,
    agentEnv,
    agent: await startAgentProcess(agentEnv),
    async restartAgent() {
      pod.agent = await startAgentProcess(agentEnv);
      return pod.agent;
    },
    async destroy() {
      await pod.agent.stop();
      await cluster.destroy();
      await rm(shared.dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return pod;
}

export async function getText(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** GET /metrics, parsed strictly. */
export async function scrapeMetrics(agent: AgentProcess): Promise<Map<string, MetricFamily>> {
  const { status, type, body } = await getText(`${agent.httpUrl}/metrics`);
  assert.equal(status, 200);
  assert.match(type, /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(body);
}

export async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Segment names PostgreSQL has marked .done: archive_command returned success for them. */
export async function doneSegments(cluster: PgCluster): Promise<string[]> {
  const names = await readdir(join(cluster.dataDir, 'pg_wal', 'archive_status'));
  return names.filter((n) => /^[0-9A-F]{24}\.done$/.test(n)).map((n) => n.slice(0, 24));
}

/**
 * Every named segment is in the store and, when PostgreSQL still has it in
 * pg_wal, fetches back (verified, through walship's own wal-fetch) byte for
 * byte the same. Returns how many were compared byte for byte.
 */
export async function assertStoredIdentical(store: StoreConfig, cluster: PgCluster, names: Iterable<string>, scratch: string): Promise<number> {
  const { config } = await loadConfig({ env: {} });
  const driver = await openStore(store, config.transfer);
  let compared = 0;
  try {
    const archive = await openWalArchive({ ...config, store }, driver);
    for (const name of names) {
      const dest = join(scratch, `${name}.fetched`);
      const result = await fetchWalFile(archive, name, dest);
      assert.equal(result.outcome, 'fetched', `${name}: PostgreSQL was told it is archived, yet the store does not have it`);
      const local = await readFile(join(cluster.dataDir, 'pg_wal', name)).catch(() => undefined);
      if (local) {
        assert.ok(local.equals(await readFile(dest)), `${name}: the archived copy differs from pg_wal's`);
        compared++;
      }
      await rm(dest, { force: true });
    }
  } finally {
    await driver.close();
  }
  return compared;
}
