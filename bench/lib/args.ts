/** NAME=VALUE flags (repeatable) as an environment object; `flag` names the option in errors. */
export function envPairs(pairs: readonly string[], flag: string): Record<string, string> {
  return Object.fromEntries(
    pairs.map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`${flag} wants NAME=VALUE, not ${kv}`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
}

/** A positive whole number from a flag, or a clear error naming it. */
export function positiveInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, not ${text}`);
  return n;
}
