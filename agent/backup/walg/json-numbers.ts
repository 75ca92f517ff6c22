// WAL-G's sentinels hold 64-bit numbers (the system identifier, LSNs) as
// JSON numbers. A JavaScript number loses digits above 2^53, so they are
// written from their decimal text and read back as text (JSON.rawJSON and
// the reviver's source text, both in Node 24).

interface RawJson {
  rawJSON(text: string): unknown;
}
type SourceReviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

/** A JSON number written exactly as its decimal digits. */
export function exactNumber(digits: string | bigint): unknown {
  const text = String(digits);
  if (!/^\d+$/.test(text)) throw new TypeError(`not a whole number: ${text}`);
  return (JSON as unknown as RawJson).rawJSON(text);
}

/** Parses JSON, giving the named keys' numbers back as their decimal text. */
export function parseKeepingDigits(text: string, keys: ReadonlySet<string>): unknown {
  const reviver: SourceReviver = (key, value, context) => (keys.has(key) && typeof value === 'number' && context?.source !== undefined ? context.source : value);
  return JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
}
