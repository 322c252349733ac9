/**
 * Numbers below this are read as seconds, above as milliseconds. 1e11 seconds is the year 5138 and 1e11 ms is
 * March 1973, so real behaviour logs are never ambiguous.
 */
const SECONDS_LIMIT = 1e11;

/** Normalises a timestamp given as ms, seconds (possibly fractional) or an ISO-8601 string to integer ms. */
export function toMillis(value: unknown): number | null {
  if (typeof value === 'number') return numberToMillis(value);
  if (typeof value !== 'string') return null;
  const s = value.trim();
  if (s === '') return null;
  if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s)) return numberToMillis(Number(s));
  const parsed = Date.parse(s);
  return Number.isFinite(parsed) && parsed >= 0 ? parsed : null;
}

function numberToMillis(n: number): number | null {
  if (!Number.isFinite(n) || n < 0) return null;
  return Math.round(n < SECONDS_LIMIT ? n * 1000 : n);
}

/** Seconds-only fields (MovieLens, Taobao): no guessing, just scale. */
export function secondsToMillis(value: string): number | null {
  const s = value.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) return null;
  return Math.round(Number(s) * 1000);
}
