import type { Config } from '../config/types.ts';
import { asWalshipError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { withObserver } from '../storage/instrumented.ts';
import { openStore } from '../storage/open.ts';
import type { DrillHost } from '../drill/run.ts';
import { startAgent, type RunningAgent } from './agent.ts';
import { HealthChecker } from './health.ts';
import { StartupCheck } from './startup-check.ts';
import { startHttpServer } from './http-server.ts';
import { WalshipMetrics } from './metrics.ts';

// The agent's life: start, reload on SIGHUP (a changed Secret or config
// file), stop on SIGTERM within the grace period. Metrics and the HTTP
// endpoint live across reloads, so counters and probes carry on.

export interface DaemonHooks {
  loadConfig(): Promise<Config>;
  reloadConfig(): Promise<Config>;
  untilStop(): Promise<string>;
  onReload(callback: () => void): void;
  makeLogger(config: Config): Logger;
  /** For restore drills on WALSHIP_DRILL_SCHEDULE. */
  drillHost?: DrillHost;
}

interface Generation {
  config: Config;
  store: StorageDriver;
  agent: RunningAgent;
  health: HealthChecker;
  startup: StartupCheck;
}

export async function runDaemon(hooks: DaemonHooks): Promise<void> {
  let config = await hooks.loadConfig();
  let log = hooks.makeLogger(config);
  let current: Generation | undefined;
  const metrics = new WalshipMetrics({ readySegments: async () => (await current?.agent.uploads?.backlog()) ?? 0 });

  const start = async (cfg: Config): Promise<Generation> => {
    if (!cfg.store) throw new Error('no store configured');
    const store = withObserver(await openStore(cfg.store, cfg.transfer), {
      observe: (op, seconds) => metrics.storageDuration.observe({ op, store: cfg.store!.kind }, seconds),
      failed: (op, code) => metrics.storageErrors.inc({ op, store: cfg.store!.kind, code }),
    });
    let agent: RunningAgent;
    try {
      agent = await startAgent(cfg, store, log, metrics, hooks.drillHost ? { drillHost: hooks.drillHost } : {});
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    const startup = new StartupCheck(cfg, store, metrics, log);
    startup.start(cfg.agent.healthIntervalMs);
    const health = new HealthChecker(store, cfg.pg.host === undefined && cfg.pg.pgdata === undefined ? undefined : cfg.pg, metrics, startup);
    health.start(cfg.agent.healthIntervalMs);
    return { config: cfg, store, agent, health, startup };
  };

  const stop = async (gen: Generation, graceMs: number): Promise<void> => {
    gen.health.stop();
    await gen.startup.stop();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const outcome = await Promise.race([gen.agent.stop().then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    // Work cut off here was never reported archived: PostgreSQL retries it.
    if (outcome === 'timeout') log.warn({ graceMs }, 'grace period over: exiting with work unfinished; PostgreSQL will retry it');
    await gen.store.close().catch(() => undefined);
  };

  current = await start(config);
  const http = await startHttpServer(config.agent.httpAddress, metrics, { report: () => current!.health.report() });
  log.info({ http: http.address }, 'serving /metrics, /healthz, /readyz');

  let reloading: Promise<void> = Promise.resolve();
  hooks.onReload(() => {
    reloading = reloading.then(async () => {
      let next: Config;
      try {
        next = await hooks.reloadConfig();
      } catch (err) {
        log.error({ code: asWalshipError(err).code }, `reload refused, keeping the running configuration: ${asWalshipError(err).message}`);
        return;
      }
      log.info('reloading configuration');
      await stop(current!, config.agent.shutdownGraceMs);
      const previous = { config, log };
      config = next;
      log = hooks.makeLogger(config);
      try {
        current = await start(config);
      } catch (err) {
        // A configuration can load and still not start (a key that does not
        // parse, a spool directory that cannot be made): run the previous one
        // again rather than leave archiving stopped.
        ({ config, log } = previous);
        log.error({ code: asWalshipError(err).code }, `reload refused, keeping the running configuration: the new one failed to start: ${asWalshipError(err).message}`);
        current = await start(config);
        return;
      }
      log.info('configuration reloaded');
    }).catch((err: unknown) => log.error({ code: asWalshipError(err).code }, `reload failed, and the previous configuration did not start again: ${asWalshipError(err).message}`));
  });

  const signal = await hooks.untilStop();
  log.info({ signal }, 'stopping: finishing the work under way');
  await reloading;
  await stop(current, config.agent.shutdownGraceMs);
  await http.close();
  log.info('stopped');
}
