import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgentProcess, type AgentProcess } from '../../test/support/agent-process.ts';
import { runWalship, WALSHIP_BIN } from '../../test/support/cli.ts';
import { chownToPostgres, postgresOwnedDir } from '../../test/support/pg-cluster.ts';
import type { Cleanup } from './cleanup.ts';

// walship in the shapes users deploy it: the sidecar (`walship agent` plus
// the sh client PostgreSQL calls, talking over a shared spool dir), and the
// standalone CLI (a Node process per archive_command).

export interface SharedVolume {
  dir: string;
  client: string;
  spool: string;
}

/** `walship install-client` into a fresh postgres-owned dir, as the pod's init step does into its shared emptyDir. */
export async function installClient(cleanup: Cleanup): Promise<SharedVolume> {
  const dir = await postgresOwnedDir('walship-bench-shared-');
  cleanup.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  const r = await runWalship(['install-client', dir]);
  if (r.code !== 0) throw new Error(`walship install-client failed (${r.code}): ${r.stderr}`);
  await chownToPostgres(join(dir, 'spool'));
  return { dir, client: join(dir, 'walship-client'), spool: join(dir, 'spool') };
}

/** The store settings shared by every walship process of a run: a filesystem store, lz4. */
export function storeEnv(storeDir: string): Record<string, string> {
  return { WALG_FILE_PREFIX: storeDir, WALG_COMPRESSION_METHOD: 'lz4' };
}

/**
 * Starts `walship agent` for one data directory. Debug logging: one line
 * per request with its duration, which the report uses to say where
 * archive_command's time goes (pino writes a line in microseconds).
 */
export async function startAgent(cleanup: Cleanup, env: Record<string, string>): Promise<AgentProcess> {
  const agent = await startAgentProcess({ WALSHIP_LOG_LEVEL: 'debug', ...env });
  cleanup.defer('stop walship agent', () => agent.stop());
  return agent;
}

/** archive_command for the standalone CLI: the project's Node 24 by absolute path, since PostgreSQL's PATH has the system's Node 20. */
export function standalonePushCommand(): string {
  return `${process.execPath} ${WALSHIP_BIN} wal-push %p`;
}

export function standaloneFetchCommand(): string {
  return `${process.execPath} ${WALSHIP_BIN} wal-fetch %f %p`;
}
