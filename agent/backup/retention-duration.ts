// Retention windows are days or weeks long, so their durations take
// d and w besides the h, m and s of the store timeouts: 7d, 36h, 2w, 1d12h.

const UNIT_MS: Readonly<Record<string, number>> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
const WHOLE = /^(?:\d+(?:\.\d+)?[wdhms])+$/;
const PART = /(\d+(?:\.\d+)?)([wdhms])/g;

/** Milliseconds of a duration like 7d, 36h, 2w or 1d12h; undefined when the text is not one, or is zero. */
export function parseRetentionDuration(text: string): number | undefined {
  const v = text.trim().toLowerCase();
  if (!WHOLE.test(v)) return undefined;
  let ms = 0;
  for (const m of v.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms > 0 && Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** A duration as a person reads it: 7d, 1d12h, 36m. */
export function formatRetentionDuration(ms: number): string {
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    if (unit === 'w') continue;
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out || '0s';
}
