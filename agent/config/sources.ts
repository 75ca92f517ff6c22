import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { WalshipError } from '../errors.ts';
import { RESERVED_PREFIXES, SETTINGS, settingNamed } from './settings.ts';
import { classifyWalgName } from './walg-settings.ts';
import type { RawValue } from './values.ts';

// Reading the raw name=value pairs from each source. Validation of values
// happens once, in load.ts, after the layers are merged.

export interface SourceReport {
  values: RawValue[];
  warnings: string[];
}

const isReserved = (name: string) => RESERVED_PREFIXES.some((p) => name.startsWith(p));

function suggestion(name: string): string {
  const distance = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return row[b.length]!;
  };
  let best: { name: string; d: number } | undefined;
  for (const spec of SETTINGS) {
    const d = distance(name, spec.name);
    if (d <= 3 && (!best || d < best.d)) best = { name: spec.name, d };
  }
  return best ? `; did you mean ${best.name}?` : '';
}

/**
 * Sorts one source's pairs into known values, tolerated WAL-G leftovers
 * (warned) and errors. `strict` sources (a config file) reject any unknown
 * name; others (the environment, a mounted Secret) only names with walship's
 * or WAL-G's prefixes, since they legitimately hold other variables.
 */
export function classify(pairs: Iterable<[string, string]>, source: string, strict: boolean): SourceReport {
  const values: RawValue[] = [];
  const warnings: string[] = [];
  for (const [name, value] of pairs) {
    const spec = settingNamed(name);
    if (spec) {
      values.push({ name, value, source, secret: spec.secret === true });
      continue;
    }
    const walg = classifyWalgName(name);
    if (walg?.kind === 'refused') {
      throw new WalshipError('CONFIG_INVALID', `${name} (from ${source}): ${walg.why}`, { details: { variable: name, source } });
    }
    if (walg?.kind === 'ignored') {
      warnings.push(`${name} (from ${source}) is ignored: ${walg.why}`);
      continue;
    }
    if (strict || isReserved(name)) {
      throw new WalshipError('CONFIG_UNKNOWN_VARIABLE', `unknown setting ${name} (from ${source})${suggestion(name)}`, {
        details: { variable: name, source },
      });
    }
  }
  return { values, warnings };
}

export function fromEnvironment(env: Readonly<Record<string, string | undefined>>): SourceReport {
  const pairs: [string, string][] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (settingNamed(name) || isReserved(name) || classifyWalgName(name) !== undefined) pairs.push([name, value]);
  }
  return classify(pairs, 'environment', false);
}

/** A directory of files, one variable per file: how Kubernetes mounts a Secret. */
export async function fromEnvdir(dir: string): Promise<SourceReport> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new WalshipError('CONFIG_INVALID', `envdir ${dir}: cannot read it (${(err as { code?: string }).code ?? String(err)})`, { cause: err });
  }
  const pairs: [string, string][] = [];
  // Kubernetes adds '..data' and timestamped folders; only real variable names count.
  for (const name of names.filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n)).sort()) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    // Whole content, trailing newlines trimmed: an armored PGP key spans many lines.
    pairs.push([name, (await readFile(path, 'utf8')).replace(/[\r\n]+$/, '')]);
  }
  return classify(pairs, `envdir ${dir}`, false);
}

export async function fromConfigFile(path: string): Promise<SourceReport> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new WalshipError('CONFIG_INVALID', `config file ${path}: cannot read it (${(err as { code?: string }).code ?? String(err)})`, { cause: err });
  }
  let doc: unknown;
  try {
    // Loaded on demand: most deployments configure through the environment.
    const { parse: parseYaml } = await import('yaml');
    doc = parseYaml(text);
  } catch (err) {
    throw new WalshipError('CONFIG_INVALID', `config file ${path}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (doc === null || doc === undefined) return { values: [], warnings: [] };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new WalshipError('CONFIG_INVALID', `config file ${path}: expected a mapping of setting names to values, e.g. WALG_FILE_PREFIX: /backups`);
  }
  const pairs: [string, string][] = [];
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    if (value === null || typeof value === 'object') {
      throw new WalshipError('CONFIG_INVALID', `config file ${path}: ${name} must be a string, number or boolean`, { details: { variable: name } });
    }
    pairs.push([name, String(value)]);
  }
  return classify(pairs, `config file ${path}`, true);
}
