import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listBackups } from '../backup/catalog.ts';
import type { BackupSentinel } from '../backup/manifest.ts';
import { loadConfig } from '../config/load.ts';
import { openStore } from '../storage/open.ts';
import { WAL_PREFIX } from '../wal/layout.ts';
import { startAgentChild, type AgentChild } from './agent-child.ts';
import type { Cleanup } from './cleanup.ts';
import { DemoCluster, freePort } from './cluster.ts';
import type { DemoHost, DemoOptions } from './host.ts';
import { scrape } from './metrics-scrape.ts';
import type { PgTools } from './postgres-tools.ts';
import { bytes, count, seconds, type StepResult } from './report.ts';
import { walship } from './walship-command.ts';
import { filesUnder, type Side, type Workspace } from './workspace.ts';
import { AFTER_TARGET, BEFORE_BACKUP, BEFORE_TARGET, addEvents, changeAfterTarget, compare, createEvents, currentState, markTarget, type Comparison, type TargetState } from './workload.ts';

// The demo's steps, in order, each returning what the report prints. State
// passes from one to the next on this object; everything started is
// registered with the cleanup before it starts.

const EVENTS_PER_PHASE = 10;

export interface RunningSide {
  side: Side;
  cluster: DemoCluster;
  agent?: AgentChild;
}

export class DemoSteps {
  private readonly host: DemoHost;
  private readonly options: DemoOptions;
  private readonly tools: PgTools;
  private readonly ws: Workspace;
  private readonly cleanup: Cleanup;
  private readonly signal: AbortSignal;
  private readonly env: Record<string, string>;

  primary: RunningSide | undefined;
  restored: RunningSide | undefined;
  backup: BackupSentinel | undefined;
  target: TargetState | undefined;
  comparison: Comparison | undefined;

  constructor(host: DemoHost, options: DemoOptions, tools: PgTools, ws: Workspace, cleanup: Cleanup, signal: AbortSignal) {
    this.host = host;
    this.options = options;
    this.tools = tools;
    this.ws = ws;
    this.cleanup = cleanup;
    this.signal = signal;
    // walship's own commands and agents keep any temporary file where the demo was told to.
    this.env = { PATH: host.path, TMPDIR: host.tmpRoot };
  }

  private show(path: string): string {
    return this.ws.show(path);
  }

  private storeEnv(): Record<string, string> {
    return { ...this.env, WALG_FILE_PREFIX: this.ws.store };
  }

  private pgEnv(cluster: DemoCluster): Record<string, string> {
    return { PGHOST: cluster.socketDir, PGPORT: String(cluster.port), PGUSER: 'postgres', PGDATA: cluster.dataDir };
  }

  /** install-client into the side's walship/ directory, then the agent, registered for cleanup. */
  private async startAgent(name: string, running: RunningSide, extra: Record<string, string>): Promise<AgentChild> {
    await walship(this.host, ['install-client', running.side.walshipDir], this.env, this.ws.root, this.signal);
    await this.ws.shareClient(running.side);
    const agent = await startAgentChild(
      this.host,
      {
        ...this.storeEnv(),
        ...this.pgEnv(running.cluster),
        WALSHIP_SPOOL_DIR: running.side.spool,
        WALSHIP_HTTP_ADDRESS: '127.0.0.1:0',
        // The demo takes its backup itself, with backup-push, at a chosen moment.
        WALSHIP_BACKUP_SCHEDULE: 'off',
        WALSHIP_LOG_LEVEL: 'info',
        ...extra,
      },
      running.side.agentLog,
      this.ws.root,
      this.signal,
    );
    running.agent = agent;
    this.cleanup.add(`${name} agent stopped`, () => agent.stop());
    return agent;
  }

  private async startCluster(name: string, cluster: DemoCluster): Promise<void> {
    this.cleanup.add(`${name} cluster stopped`, () => cluster.stop('immediate'));
    await cluster.start(this.signal);
  }

  async createPrimary(): Promise<StepResult> {
    const side = await this.ws.side('primary');
    const cluster = new DemoCluster(this.tools, side.root, await freePort());
    this.primary = { side, cluster };
    await cluster.initdb(this.signal);
    await cluster.prepare();
    const archiveCommand = `${side.client} wal-push %p`;
    await cluster.configure({ ...cluster.baseSettings(), archive_mode: 'on', archive_command: archiveCommand, archive_timeout: 0 });
    return {
      summary: `initdb: a PostgreSQL ${this.tools.version} cluster in ${this.show(cluster.dataDir)}, port ${cluster.port} on a private socket`,
      details: [`archive_command = '${archiveCommand}'`],
    };
  }

  async startPrimary(): Promise<StepResult> {
    const running = this.primary!;
    const agent = await this.startAgent('primary', running, {});
    await this.startCluster('primary', running.cluster);
    return {
      summary: `walship agent (pid ${agent.pid}) serving ${this.show(running.side.spool)}, archiving to ${this.show(this.ws.store)}/ (filesystem store, lz4); PostgreSQL started`,
      details: [`metrics ${agent.httpUrl}/metrics, readiness ${agent.httpUrl}/readyz, log ${this.show(agent.logFile)}`],
    };
  }

  async load(): Promise<StepResult> {
    const { cluster } = this.primary!;
    await cluster.pgbench(['-i', '-s', String(this.options.scale), '-q'], this.signal);
    await createEvents(cluster);
    await addEvents(cluster, BEFORE_BACKUP, EVENTS_PER_PHASE);
    const { size } = await cluster.one<{ size: string }>("select pg_database_size('postgres')::text as size");
    return {
      summary: `pgbench -i -s ${this.options.scale}: ${count(this.options.scale * 100_000)} accounts; database ${bytes(Number(size))}`,
      details: [`demo_events: ${EVENTS_PER_PHASE} timestamped rows, one transaction each`],
    };
  }

  async takeBackup(): Promise<StepResult> {
    const { cluster } = this.primary!;
    const run = await walship(this.host, ['backup-push', cluster.dataDir], { ...this.storeEnv(), ...this.pgEnv(cluster) }, this.ws.root, this.signal);
    const config = (await loadConfig({ env: this.storeEnv() })).config;
    const driver = await openStore(config.store!, config.transfer);
    let backups: BackupSentinel[];
    try {
      backups = await listBackups(driver);
    } finally {
      await driver.close();
    }
    const backup = backups.at(-1);
    if (!backup) throw new Error(`${run.shown} succeeded, yet the store lists no backup`);
    this.backup = backup;
    const share = backup.dataBytes > 0 ? ` (${((100 * backup.storedBytes) / backup.dataBytes).toFixed(1)} %)` : '';
    return {
      summary: `walship backup-push: ${backup.name}, ${bytes(backup.dataBytes)} read, ${bytes(backup.storedBytes)} stored${share}`,
      details: [`in ${this.show(join(this.ws.store, 'basebackups_005', backup.name))}; WAL from ${backup.startLsn} to ${backup.stopLsn} is needed to restore it`],
    };
  }

  async workload(): Promise<StepResult> {
    const { cluster } = this.primary!;
    const out = await cluster.pgbench(['-c', '2', '-j', '2', '-T', String(this.options.seconds), '-n'], this.signal);
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? NaN);
    const tps = /tps = ([\d.]+)/.exec(out)?.[1];
    await addEvents(cluster, BEFORE_TARGET, EVENTS_PER_PHASE);
    const target = await markTarget(cluster);
    this.target = target;
    await changeAfterTarget(cluster, EVENTS_PER_PHASE);
    const events = (target.events[BEFORE_BACKUP] ?? 0) + (target.events[BEFORE_TARGET] ?? 0);
    return {
      summary: `pgbench -c 2 -T ${this.options.seconds}: ${Number.isNaN(transactions) ? 'done' : `${count(transactions)} transactions${tps ? ` (${Math.round(Number(tps))} tps)` : ''}`}; then the recovery target`,
      details: [
        `target ${target.time}: ${events} events, pgbench balance sum ${target.balanceSum}, ${count(target.historyRows)} history rows`,
        `after it: ${EVENTS_PER_PHASE} more events ('${AFTER_TARGET}'), 1,000 balances changed, 1 history row`,
      ],
    };
  }

  async archive(): Promise<StepResult> {
    const { cluster } = this.primary!;
    const { name } = await cluster.one<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
    const deadline = Date.now() + 120_000;
    let stats: { archived: string; failed: string; last: string | null };
    for (;;) {
      this.signal.throwIfAborted();
      stats = await cluster.one('select archived_count::text as archived, failed_count::text as failed, last_archived_wal as last from pg_stat_archiver');
      if (stats.last !== null && stats.last.slice(0, 24) >= name) break;
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not archive ${name} in 120 s (last archived ${stats.last}, ${stats.failed} failures)\n${await cluster.logTail()}`);
      await sleep(50);
    }
    const { size } = await cluster.one<{ size: string }>("select setting as size from pg_settings where name = 'wal_segment_size'");
    const stored = await filesUnder(join(this.ws.store, WAL_PREFIX), /^[0-9A-F]{24}\.[a-z0-9]+$/);
    return {
      summary: `pg_switch_wal; PostgreSQL reports ${stats.archived} WAL files archived, the last ${name}, and ${stats.failed} failures`,
      details: [`${this.show(join(this.ws.store, WAL_PREFIX))} holds ${stored.files} segments: ${bytes(stored.files * Number(size))} of WAL stored as ${bytes(stored.bytes)}`],
    };
  }

  async restore(): Promise<StepResult> {
    const target = this.target!;
    const side = await this.ws.side('restored');
    const cluster = new DemoCluster(this.tools, side.root, await freePort());
    this.restored = { side, cluster };
    await cluster.prepare();
    const restoreCommand = `${side.client} wal-fetch %f %p`;
    const fetchArgs = ['backup-fetch', cluster.dataDir, 'LATEST', '--target-time', target.time, '--restore-command', restoreCommand];
    const fetched = await walship(this.host, fetchArgs, this.storeEnv(), this.ws.root, this.signal);
    const agent = await this.startAgent('restore', this.restored, { WALSHIP_UPLOAD_AHEAD: 'false' });
    // The restored postgresql.conf is the primary's: its own port and socket, and no archiving into the primary's archive.
    await cluster.configure({ ...cluster.baseSettings(), archive_mode: 'off' });
    const started = Date.now();
    await this.startCluster('restored', cluster);
    await cluster.waitPromoted(300_000, this.signal);
    const recoveryMs = Date.now() - started;
    const written = /\(full: (\d+) files written, ([^;]+);/.exec(fetched.stdout);
    return {
      summary: `walship backup-fetch ${this.show(cluster.dataDir)} LATEST --target-time '${target.time}'; recovered and promoted in ${seconds(recoveryMs)}`,
      details: [
        `${this.backup?.name ?? 'the backup'}${written ? `: ${written[1]} files, ${written[2]} restored` : ' restored'}; restore_command = '${restoreCommand}'`,
        `served by a second agent (pid ${agent.pid}, metrics ${agent.httpUrl}/metrics), which prefetches the next segments`,
      ],
    };
  }

  async check(): Promise<StepResult> {
    const restored = await currentState(this.restored!.cluster);
    const comparison = compare(this.target!, restored, EVENTS_PER_PHASE);
    this.comparison = comparison;
    return {
      summary: comparison.matched ? `the restored cluster holds the data of ${this.target!.time}, exactly` : 'the restored cluster does NOT hold the data of the target',
      details: comparison.lines,
    };
  }

  /** A few numbers from the agents' /metrics, as Prometheus would scrape them. */
  async metrics(): Promise<string[]> {
    const lines: string[] = [];
    const primary = this.primary?.agent;
    if (primary) {
      const m = await scrape(primary.httpUrl);
      lines.push(`primary agent ${primary.httpUrl}/metrics:`);
      lines.push(
        `  walship_wal_archived_segments_total ${m.value('walship_wal_archived_segments_total')}, walship_wal_archived_bytes_total ${bytes(m.value('walship_wal_archived_bytes_total'))}, walship_storage_operation_duration_seconds_count ${m.value('walship_storage_operation_duration_seconds_count')}`,
      );
    }
    const restore = this.restored?.agent;
    if (restore) {
      const m = await scrape(restore.httpUrl);
      lines.push(`restore agent ${restore.httpUrl}/metrics:`);
      lines.push(
        `  walship_wal_fetch_duration_seconds_count ${m.value('walship_wal_fetch_duration_seconds_count')} (not in the archive: ${m.value('walship_wal_fetch_duration_seconds_count', { outcome: 'not-found' })}), walship_wal_prefetch_hits_total ${m.value('walship_wal_prefetch_hits_total')}`,
      );
    }
    return lines;
  }

  /** Where everything is, for --keep. */
  keptLines(): string[] {
    const lines: string[] = [];
    const stopCluster = (c: DemoCluster) => this.tools.commandLine('pg_ctl', ['-D', c.dataDir, 'stop']).join(' ');
    for (const [name, running] of [['primary', this.primary], ['restored', this.restored]] as const) {
      if (!running) continue;
      lines.push(`${name}: ${running.cluster.psqlCommand()}   (data ${running.cluster.dataDir}, log ${running.cluster.logFile})`);
      if (running.agent) lines.push(`  its agent: pid ${running.agent.pid}, ${running.agent.httpUrl}/metrics, log ${running.agent.logFile}`);
    }
    lines.push(`store: ${this.ws.store}   (walship --file-prefix ${this.ws.store} backup-list)`);
    const stops = [this.restored, this.primary].filter((r): r is RunningSide => r !== undefined);
    const agents = stops.flatMap((r) => (r.agent ? [String(r.agent.pid)] : []));
    lines.push('to stop and remove it all:');
    for (const r of stops) lines.push(`  ${stopCluster(r.cluster)}`);
    if (agents.length > 0) lines.push(`  kill ${agents.join(' ')}`);
    lines.push(`  rm -rf ${this.ws.root}`);
    return lines;
  }
}
