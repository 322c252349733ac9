import { FedProfileError } from '../errors.js';

/**
 * Seeded sampling without replacement. Candidates are sorted by id first, so the choice depends only on
 * the rng and the set of ids, never on the order clients happened to connect in.
 */
export function sampleIds(ids: readonly string[], k: number, rng: () => number): string[] {
  if (!Number.isInteger(k) || k < 0) throw new FedProfileError('BAD_INPUT', `sample size must be a non-negative integer, got ${k}`);
  const pool = [...new Set(ids)].sort();
  const take = Math.min(k, pool.length);
  // Partial Fisher–Yates: the first `take` slots end up a uniform sample.
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(rng() * (pool.length - i));
    const tmp = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = tmp;
  }
  return pool.slice(0, take);
}

/** ⌈wanted × factor⌉ capped by what is available; the epsilon keeps 10 × 1.3 at 13, not 14. */
export function overSelectedCount(wanted: number, factor: number, available: number): number {
  return Math.min(available, Math.ceil(wanted * factor - 1e-9));
}

/** A 31-bit seed for a client's local shuffling, drawn from the round's rng. */
export function drawSeed(rng: () => number): number {
  return Math.floor(rng() * 0x7fffffff);
}
