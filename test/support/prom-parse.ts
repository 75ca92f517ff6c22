// A strict parser of the Prometheus text exposition format (version 0.0.4),
// for tests: anything Prometheus would reject, or that breaks the format's
// rules for a family (TYPE before samples, one contiguous group per family,
// no duplicate series, histogram buckets cumulative and ending in +Inf equal
// to _count), throws an error naming the line.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name: for a histogram, name_bucket, name_sum or name_count. */
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

class ParseError extends Error {
  constructor(lineNo: number, line: string, why: string) {
    super(`line ${lineNo}: ${why}: ${JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}…` : line)}`);
  }
}

function parseValue(text: string): number | undefined {
  // Go's ParseFloat, which Prometheus uses, takes NaN and [+-]Inf(inity) in any case (prom-client writes "Nan").
  if (/^nan$/i.test(text)) return NaN;
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  // Decimal or exponent notation, optional sign; not the hex floats Go also reads (no exporter writes them).
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === '\\' ? '\\' : `\\${c}`));
}

/** Parses `{a="1",b="x\"y"}` starting at text[i] === '{'; returns the labels and the index after '}'. */
function parseLabels(text: string, start: number, fail: (why: string) => never): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (text[i] === '}') return { labels, end: i + 1 };
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!nameMatch) fail('expected a label name');
    const name = nameMatch[0];
    if (name.startsWith('__')) fail(`label name ${name} is reserved`);
    if (name in labels) fail(`label ${name} given twice`);
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') fail(`expected ="..." after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) fail(`unterminated value of label ${name}`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else fail(`invalid escape \\${next ?? ''} in label ${name}`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++;
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] !== '}') fail(`expected , or } after label ${name}`);
  }
}

function seriesKey(sample: Sample): string {
  return `${sample.name}{${Object.keys(sample.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(sample.labels[k])}`)
    .join(',')}}`;
}

/** Which family a sample belongs to, given the family declared last. */
function belongsTo(family: MetricFamily | undefined, name: string): boolean {
  if (!family) return false;
  if (name === family.name) return family.type !== 'histogram';
  if (family.type === 'histogram') return [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(name);
  if (family.type === 'summary') return [`${family.name}_sum`, `${family.name}_count`].includes(name);
  return false;
}

function checkFamily(family: MetricFamily): void {
  const where = `family ${family.name} (${family.type})`;
  if (family.type === 'counter') {
    for (const s of family.samples) if (!(s.value >= 0)) throw new Error(`${where}: counter value ${s.value} is negative or NaN`);
  }
  if (family.type === 'summary') {
    for (const s of family.samples) {
      if (s.name === family.name && s.labels.quantile === undefined) throw new Error(`${where}: sample without a quantile label`);
    }
  }
  if (family.type !== 'histogram') return;
  // Group by the labels other than le: one histogram per group.
  const groups = new Map<string, { buckets: { le: number; value: number }[]; sum?: number; count?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = seriesKey({ name: '', labels: rest, value: 0 });
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${where}: a bucket without le`);
      const bound = parseValue(le);
      if (bound === undefined || Number.isNaN(bound)) throw new Error(`${where}: le="${le}" is not a number`);
      g.buckets.push({ le: bound, value: s.value });
    } else {
      if (le !== undefined) throw new Error(`${where}: ${s.name} has an le label`);
      if (s.name.endsWith('_sum')) g.sum = s.value;
      else g.count = s.value;
    }
  }
  for (const [key, g] of groups) {
    if (g.buckets.length === 0) throw new Error(`${where}${key}: no buckets`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i]!.le > g.buckets[i - 1]!.le)) throw new Error(`${where}${key}: bucket bounds not increasing`);
      if (g.buckets[i]!.value < g.buckets[i - 1]!.value) throw new Error(`${where}${key}: bucket counts not cumulative`);
    }
    const last = g.buckets.at(-1)!;
    if (last.le !== Infinity) throw new Error(`${where}${key}: no +Inf bucket`);
    if (g.count === undefined || g.sum === undefined) throw new Error(`${where}${key}: _sum or _count missing`);
    if (g.count !== last.value) throw new Error(`${where}${key}: _count ${g.count} differs from the +Inf bucket ${last.value}`);
  }
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, MetricFamily>();
  const series = new Set<string>();
  const typed = new Set<string>();
  let current: MetricFamily | undefined;
  const lines = text.split('\n');
  lines.pop();

  const declare = (name: string, lineNo: number, line: string): MetricFamily => {
    if (!METRIC_NAME.test(name)) throw new ParseError(lineNo, line, `invalid metric name ${name}`);
    let family = families.get(name);
    if (family && family !== current) throw new ParseError(lineNo, line, `family ${name} appears in two places`);
    if (!family) {
      if (current) checkFamily(current);
      family = { name, type: 'untyped', samples: [] };
      families.set(name, family);
      current = family;
    }
    return family;
  };

  lines.forEach((line, index) => {
    const lineNo = index + 1;
    const fail = (why: string): never => {
      throw new ParseError(lineNo, line, why);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) return; // any other comment
      const [, keyword, name, rest = ''] = m;
      const family = declare(name!, lineNo, line);
      if (keyword === 'HELP') {
        if (family.help !== undefined) fail(`second HELP for ${name}`);
        family.help = unescapeHelp(rest);
      } else {
        if (family.samples.length > 0) fail(`TYPE for ${name} after its samples`);
        if (typed.has(family.name)) fail(`second TYPE for ${name}`);
        if (!TYPES.includes(rest.trim() as MetricType)) fail(`unknown type ${rest}`);
        family.type = rest.trim() as MetricType;
        typed.add(family.name);
      }
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) fail('expected a metric name');
    const name = nameMatch![0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, fail));
    const rest = line.slice(i);
    const fields = /^[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/.exec(rest);
    if (!fields) fail('expected a value (and an optional timestamp) after the series');
    const value = parseValue(fields![1]!);
    if (value === undefined) fail(`invalid value ${fields![1]}`);
    const sample: Sample = { name, labels, value: value!, ...(fields![2] !== undefined ? { timestamp: Number(fields![2]) } : {}) };
    const family = belongsTo(current, name) ? current! : declare(name, lineNo, line);
    if (family.type === 'histogram' && !belongsTo(family, name)) fail(`histogram ${family.name} has a sample named ${name}`);
    const key = seriesKey(sample);
    if (series.has(key)) fail(`duplicate series ${key}`);
    series.add(key);
    family.samples.push(sample);
  });
  if (current) checkFamily(current);
  return families;
}

/** The sum of a family's samples named `sampleName` whose labels include `where`. */
export function sampleSum(families: Map<string, MetricFamily>, family: string, sampleName = family, where: Record<string, string> = {}): number {
  const f = families.get(family);
  if (!f) throw new Error(`no metric family ${family}`);
  return f.samples.filter((s) => s.name === sampleName && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/** The value of the one sample of a family whose labels include `where`, or undefined when there is none. */
export function sampleValue(families: Map<string, MetricFamily>, family: string, where: Record<string, string> = {}): number | undefined {
  const matching = (families.get(family)?.samples ?? []).filter((s) => s.name === family && Object.entries(where).every(([k, v]) => s.labels[k] === v));
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${family} match ${JSON.stringify(where)}`);
  return matching[0]?.value;
}
