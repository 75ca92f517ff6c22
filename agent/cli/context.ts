import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { settingNamed, SETTINGS } from '../config/settings.ts';
import type { Config, StoreConfig } from '../config/types.ts';
import { WalshipError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { openStore } from '../storage/open.ts';
import { writeLine, type CommandIO } from './io.ts';
import type { Logger } from '../log.ts';
import type { Progress } from './progress.ts';

// The bridge from the command line to the typed configuration: flags and
// the environment go in here, and only the parsed Config goes further.

/** Settings with a flag become global options, so flags cannot drift from the settings table. */
export function flagSettings() {
  return SETTINGS.filter((s) => s.flag !== undefined && !s.secret);
}

function flagValues(program: Command): Record<string, string> {
  const opts = program.optsWithGlobals() as Record<string, unknown>;
  const values: Record<string, string> = {};
  for (const spec of flagSettings()) {
    const key = spec.flag!.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const value = opts[key];
    if (typeof value === 'string') values[spec.name] = value;
  }
  for (const pair of (opts.set as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0) throw new WalshipError('USAGE', `--set ${pair}: expected NAME=VALUE`);
    if (settingNamed(name)?.secret) {
      throw new WalshipError('USAGE', `--set ${name}: secrets are not taken on the command line, where other users can see them; use the environment, an envdir or a config file`);
    }
    values[name] = pair.slice(eq + 1);
  }
  return values;
}

export class CommandContext {
  readonly io: CommandIO;
  private readonly program: Command;
  private loaded: Promise<LoadedConfig> | undefined;

  constructor(program: Command, io: CommandIO) {
    this.program = program;
    this.io = io;
  }

  /** Reads every source again: a SIGHUP after a mounted Secret or the config file changed. */
  reloadConfig(): Promise<Config> {
    this.loaded = undefined;
    return this.config();
  }

  /** The parsed configuration with the raw values it came from (warnings printed once). */
  loadedConfig(): Promise<LoadedConfig> {
    this.loaded ??= loadConfig({ env: this.io.env, flags: flagValues(this.program) }).then((loaded) => {
      for (const w of loaded.warnings) writeLine(this.io.stderr, `walship: warning: ${w}`);
      return loaded;
    });
    return this.loaded;
  }

  async config(): Promise<Config> {
    return (await this.loadedConfig()).config;
  }

  // pino and cli-progress are loaded only by the commands that log or draw
  // progress: archive_command and restore_command would otherwise pay for
  // loading them on every call.

  /** The JSON logger on stderr, at the configured level. */
  async logger(config: Config): Promise<Logger> {
    const { createLogger } = await import('../log.ts');
    return createLogger(config.log.level, this.io.stderr);
  }

  /** A progress bar on stderr when it is a terminal. */
  async progress(label: string): Promise<Progress> {
    const { terminalProgress } = await import('./progress.ts');
    return terminalProgress(this.io.stderr, label);
  }

  async store(): Promise<{ config: Config; store: StoreConfig; driver: StorageDriver }> {
    const config = await this.config();
    if (!config.store) {
      throw new WalshipError('CONFIG_MISSING', 'no store configured: set one of WALG_FILE_PREFIX, WALG_S3_PREFIX, WALG_GS_PREFIX or WALG_AZ_PREFIX');
    }
    return { config, store: config.store, driver: await openStore(config.store, config.transfer) };
  }
}
