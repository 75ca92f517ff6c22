import { WalshipMetrics } from './metrics.ts';

/** The metrics reference in Markdown, made from the registry itself (process metrics summarised). */
export async function metricsReference(): Promise<string> {
  const metrics = new WalshipMetrics().registerEveryMetric();
  const all = await metrics.registry.getMetricsAsJSON();
  const own = all.filter((m) => !/^walship_(process_|nodejs_)/.test(m.name));
  const lines = ['| metric | type | labels | meaning |', '|---|---|---|---|'];
  for (const m of own) {
    const labels = new Set<string>();
    for (const v of m.values as { labels: Record<string, unknown> }[]) for (const l of Object.keys(v.labels)) if (l !== 'le') labels.add(l);
    const declared = (metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] })?.labelNames ?? [...labels];
    lines.push(`| \`${m.name}\` | ${m.type} | ${declared.map((l) => `\`${l}\``).join(', ')} | ${m.help} |`);
  }
  lines.push('', 'Plus the standard process and Node.js metrics (`walship_process_cpu_seconds_total`, `walship_process_resident_memory_bytes`, `walship_nodejs_*`, ...).');
  return lines.join('\n');
}
