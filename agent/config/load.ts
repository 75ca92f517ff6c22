import { readFile } from 'node:fs/promises';
import { WalshipError } from '../errors.ts';
import { SETTINGS, settingNamed } from './settings.ts';
import { classify, fromConfigFile, fromEnvdir, fromEnvironment, type SourceReport } from './sources.ts';
import { parseStore } from './store.ts';
import type { CompressionMethod, Config, PgpConfig } from './types.ts';
import type { RawValue } from './values.ts';

// Layers, each overriding the one before: defaults, config file, envdir,
// environment, command-line flags. Parsed once, validated before anything
// is touched, then passed down as a plain typed object.

export interface ConfigInputs {
  /** The process environment, handed in by the CLI: nothing else reads process.env. */
  env: Readonly<Record<string, string | undefined>>;
  /** Values from command-line flags, by setting name. */
  flags?: Readonly<Record<string, string>>;
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
  /** The winning raw value of each setting given anywhere, for `walship config`. */
  raw: ReadonlyMap<string, RawValue>;
}

export async function loadConfig(inputs: ConfigInputs): Promise<LoadedConfig> {
  const flags = classify(Object.entries(inputs.flags ?? {}), 'command line', true);
  const env = fromEnvironment(inputs.env);
  const pick = (name: string) => [...flags.values, ...env.values].find((v) => canonical(v.name) === name)?.value;

  const layers: SourceReport[] = [];
  const configFile = pick('WALSHIP_CONFIG');
  if (configFile !== undefined) layers.push(await fromConfigFile(configFile));
  const envdir = pick('WALSHIP_ENVDIR') ?? layers[0]?.values.find((v) => v.name === 'WALSHIP_ENVDIR')?.value;
  if (envdir !== undefined) layers.push(await fromEnvdir(envdir));
  layers.push(env, flags);

  const raw = new Map<string, RawValue>();
  for (const layer of layers) for (const value of layer.values) raw.set(canonical(value.name), value);

  const parsed = new Map<string, unknown>();
  for (const spec of SETTINGS) {
    const given = raw.get(spec.name);
    const value: RawValue | undefined = given ?? (spec.default === undefined ? undefined : { name: spec.name, value: spec.default, source: 'default', secret: false });
    if (value !== undefined) parsed.set(spec.name, spec.parse(value));
  }

  const get = <T>(name: string) => parsed.get(name) as T;
  const store = parseStore(raw, get);
  const config: Config = {
    store,
    codec: {
      compression: get<CompressionMethod>('WALG_COMPRESSION_METHOD'),
      zstdLevel: get<number>('WALG_ZSTD_LEVEL'),
      ...(await pgpConfig(raw, get)),
    },
    transfer: {
      requestTimeoutMs: get<number>('WALSHIP_STORE_TIMEOUT'),
      idleTimeoutMs: get<number>('WALSHIP_STORE_IDLE_TIMEOUT'),
      maxAttempts: get<number>('WALSHIP_STORE_ATTEMPTS'),
      baseBackoffMs: get<number>('WALSHIP_STORE_BACKOFF'),
      maxBackoffMs: 10_000,
      uploadConcurrency: get<number>('WALG_UPLOAD_CONCURRENCY'),
      downloadConcurrency: get<number>('WALG_DOWNLOAD_CONCURRENCY'),
    },
    pg: {
      port: get<number>('PGPORT'),
      host: get<string | undefined>('PGHOST'),
      user: get<string | undefined>('PGUSER'),
      password: get<string | undefined>('PGPASSWORD'),
      database: get<string | undefined>('PGDATABASE'),
      pgdata: get<string | undefined>('PGDATA'),
    },
    wal: {
      preventOverwrite: get<boolean>('WALG_PREVENT_WAL_OVERWRITE'),
      deltaMaxSteps: get<number>('WALG_DELTA_MAX_STEPS'),
      fetchHole: get<Config['wal']['fetchHole']>('WALSHIP_FETCH_HOLE'),
      pushTimeoutMs: get<number>('WALSHIP_PUSH_TIMEOUT'),
      fetchTimeoutMs: get<number>('WALSHIP_FETCH_TIMEOUT'),
    },
    log: { level: get<Config['log']['level']>('WALSHIP_LOG_LEVEL') },
    agent: {
      spoolDir: get<string>('WALSHIP_SPOOL_DIR'),
      uploadAhead: get<boolean>('WALSHIP_UPLOAD_AHEAD'),
      followWal: get<boolean>('WALSHIP_FOLLOW_WAL'),
      httpAddress: get<string>('WALSHIP_HTTP_ADDRESS'),
      shutdownGraceMs: get<number>('WALSHIP_SHUTDOWN_GRACE'),
      healthIntervalMs: get<number>('WALSHIP_HEALTH_INTERVAL'),
      catalogIntervalMs: get<number>('WALSHIP_BACKUP_CATALOG_INTERVAL'),
      checkWalTimeoutMs: get<number>('WALSHIP_CHECK_WAL_TIMEOUT'),
      walVerifyIntervalMs: get<number>('WALSHIP_WAL_VERIFY_INTERVAL'),
    },
    backup: { partBytes: get<number>('WALSHIP_BACKUP_PART_SIZE') * 1024 * 1024, walTimeoutMs: get<number>('WALSHIP_BACKUP_WAL_TIMEOUT'), schedule: get<string>('WALSHIP_BACKUP_SCHEDULE') },
    drill: {
      schedule: get<string>('WALSHIP_DRILL_SCHEDULE'),
      diskBudgetBytes: get<number>('WALSHIP_DRILL_DISK_BUDGET') * 1024 * 1024,
      ...optional('dir', get<string | undefined>('WALSHIP_DRILL_DIR')),
      user: get<string>('WALSHIP_DRILL_USER'),
      timeoutMs: get<number>('WALSHIP_DRILL_TIMEOUT'),
      ...optional('pgBin', get<string | undefined>('WALSHIP_PGBIN')),
    },
    retention: { full: get<number>('WALSHIP_RETENTION_FULL'), windowMs: get<number | undefined>('WALSHIP_RETENTION_WINDOW') },
  };
  return { config, warnings: [...layers.flatMap((l) => l.warnings), ...deadSettingWarnings(config, raw)], raw };
}

/** Settings that load but cannot do what they ask for yet. */
function deadSettingWarnings(config: Config, raw: ReadonlyMap<string, RawValue>): string[] {
  const warnings: string[] = [];
  if (config.wal.deltaMaxSteps > 0) {
    warnings.push(`WALG_DELTA_MAX_STEPS=${config.wal.deltaMaxSteps} (from ${raw.get('WALG_DELTA_MAX_STEPS')?.source}): delta backups are not implemented yet; every backup is full`);
  }
  return warnings;
}

/** { key: value }, or nothing when value is undefined (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function canonical(name: string): string {
  return settingNamed(name)?.name ?? name;
}

async function pgpConfig(raw: ReadonlyMap<string, RawValue>, get: <T>(name: string) => T): Promise<{ pgp?: PgpConfig }> {
  const inline = get<string | undefined>('WALG_PGP_KEY');
  const path = get<string | undefined>('WALG_PGP_KEY_PATH');
  if (inline !== undefined && path !== undefined) {
    throw new WalshipError('CONFIG_CONFLICT', `WALG_PGP_KEY (from ${raw.get('WALG_PGP_KEY')?.source}) and WALG_PGP_KEY_PATH (from ${raw.get('WALG_PGP_KEY_PATH')?.source}) are both set; set one`);
  }
  // WAL-G takes a key given on one line with literal \n sequences (as some
  // secret stores and Helm values hold it); an armored key spans lines.
  let armoredKey = inline !== undefined && !inline.includes('\n') && inline.includes('\\n') ? inline.replace(/\\n/g, '\n') : inline;
  if (path !== undefined) {
    try {
      armoredKey = await readFile(path, 'utf8');
    } catch (err) {
      throw new WalshipError('CONFIG_INVALID', `WALG_PGP_KEY_PATH (from ${raw.get('WALG_PGP_KEY_PATH')?.source}): cannot read ${path} (${(err as { code?: string }).code ?? String(err)})`, { cause: err });
    }
  }
  if (armoredKey === undefined) {
    if (raw.has('WALG_PGP_KEY_PASSPHRASE')) {
      throw new WalshipError('CONFIG_MISSING', 'WALG_PGP_KEY_PASSPHRASE is set but no key is: set WALG_PGP_KEY or WALG_PGP_KEY_PATH');
    }
    return {};
  }
  if (!/-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----/.test(armoredKey)) {
    const name = path === undefined ? 'WALG_PGP_KEY' : 'WALG_PGP_KEY_PATH';
    throw new WalshipError('CONFIG_INVALID', `${name} (from ${raw.get(name)?.source}): expected an ASCII-armored OpenPGP key (-----BEGIN PGP PUBLIC KEY BLOCK----- or PRIVATE KEY BLOCK)`);
  }
  const passphrase = get<string | undefined>('WALG_PGP_KEY_PASSPHRASE');
  return { pgp: { armoredKey, passphrase } };
}
