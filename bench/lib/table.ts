// Plain-text table for terminal reports: columns padded to their widest
// cell, numbers right-aligned so that digits line up for comparison.

export type Cell = string | number | undefined;

export function formatNumber(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return value.toFixed(digits);
}

export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = (c: Cell) => (c === undefined ? '—' : String(c));
  const numeric = (c: Cell) => typeof c === 'number' || /^[-+]?[\d.]+\s*[×x%]?$/.test(text(c).trim());
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells: readonly Cell[], head = false) =>
    cells
      .map((c, i) => (i > 0 && !head && numeric(c) ? text(c).padStart(widths[i]!) : text(c).padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ').trimEnd();
  return [line(header, true), rule, ...rows.map((r) => line(r))].join('\n');
}
