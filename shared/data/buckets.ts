/**
 * Log-spaced buckets for the price and time-gap embeddings. `buckets` is the field's vocabulary size including
 * PAD, so real values land in [1, buckets); 0 means PAD, unknown, or the field is disabled (buckets <= 1).
 * Log spacing because both quantities span orders of magnitude (a 2 € vs 20 € item differ as much as
 * 200 € vs 2000 €; seconds vs minutes vs days between clicks).
 */
export const PRICE_BUCKET_MAX = 10_000;
/** 30 days: gaps longer than this share the last bucket. */
export const GAP_BUCKET_MAX_SECONDS = 30 * 24 * 3600;

function logBucket(value: number, buckets: number, max: number): number {
  const real = buckets - 1;
  const b = Math.floor((Math.log1p(value) / Math.log1p(max)) * real);
  return 1 + Math.min(real - 1, Math.max(0, b));
}

export function priceBucket(price: number | undefined, buckets: number, maxPrice = PRICE_BUCKET_MAX): number {
  if (buckets <= 1 || price === undefined || !Number.isFinite(price) || price < 0) return 0;
  return logBucket(price, buckets, maxPrice);
}

/** Seconds since the previous event; a sequence's first event has gap 0 (bucket 1). */
export function gapBucket(seconds: number, buckets: number, maxSeconds = GAP_BUCKET_MAX_SECONDS): number {
  if (buckets <= 1 || !Number.isFinite(seconds)) return 0;
  return logBucket(Math.max(0, seconds), buckets, maxSeconds);
}
