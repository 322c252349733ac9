import { randomFillSync } from 'node:crypto';
import { ConfigError } from '../errors.js';

/**
 * Fixed-point encoding in Z_2^32.
 *
 * A client's coordinate x is clipped to [-c, c], scaled by w/W (its weight over maxWeight) and encoded as
 * q = SR(x · w/W · 2^f), where SR is unbiased stochastic rounding, so |q| <= c·2^f + 1. Each masked vector
 * also carries w and the client's clipped fraction (in units of 2^-16), so the server learns only sums.
 *
 * No-wrap bound: the signed sum over n clients satisfies |Σ q| <= n·(c·2^f + 1) <= 2^31 − 1, which is how f
 * is chosen (`fractionalBits`), so the sum read as a signed 32-bit integer is exact. The weights sum to at
 * most n·W < 2^32 and the clip counters to at most n·2^16 < 2^32 (checked when the round begins).
 *
 * Error bound: stochastic rounding moves each client's value by less than 2^-f, so the decoded weighted
 * mean Σ q · W / (2^f Σ w) differs from the exact weighted mean of the clipped updates by less than
 * |U| · 2^-f · W / Σ w (plus float32 rounding of the output), U being the contributors.
 */
export const MODULUS_BITS = 32;
export const CLIP_FRACTION_ONE = 1 << 16;
/** Extra elements appended to the update: the weight and the clipped fraction. */
export const TRAILER = 2;

export function fractionalBits(n: number, clip: number): number {
  const budget = (2 ** 31 - 1) / n - 1;
  let f = Math.floor(Math.log2(budget / clip));
  while (f > -64 && n * (clip * 2 ** f + 1) > 2 ** 31 - 1) f--; // guard against log2 rounding up
  if (f < 1) {
    throw new ConfigError(`clip ${clip} is too large for ${n} clients in a 32-bit sum: lower clip or the cohort size`);
  }
  return Math.min(f, 48);
}

/** Bits each client's signed value needs, reported as the round's `bitWidth`. */
export function clientBitWidth(clip: number, f: number): number {
  return Math.ceil(Math.log2(clip * 2 ** f + 2)) + 1;
}

export function checkCohortFits(n: number, maxWeight: number): void {
  if (n * maxWeight > 0xffffffff) {
    throw new ConfigError(`n · maxWeight = ${n} · ${maxWeight} does not fit the 32-bit weight sum; lower maxWeight`);
  }
  if (n * CLIP_FRACTION_ONE > 0xffffffff) throw new ConfigError(`at most 65535 participants per round, got ${n}`);
}

/** Fills a fresh (all-zero) array with uniform 32-bit words: the stochastic-rounding decisions. */
export type RoundingSource = (out: Uint32Array) => void;

const osRounding: RoundingSource = (out) => { randomFillSync(out); };

export interface QuantisedUpdate {
  vector: Uint32Array;
  clipped: number;
}

/**
 * Encodes update·(weight/maxWeight) into a fresh Uint32Array of length m + TRAILER. `weight` must already be
 * an integer in [1, maxWeight]. `rounding` supplies the rounding draws (default: the OS CSPRNG).
 */
export function quantise(
  update: Float32Array, weight: number, maxWeight: number, clip: number, f: number, rounding: RoundingSource = osRounding,
): QuantisedUpdate {
  const m = update.length;
  const out = new Uint32Array(m + TRAILER);
  // Uniform 32-bit draws for the rounding decisions, written into `out` and then overwritten in place.
  rounding(out);
  const scale = (weight / maxWeight) * 2 ** f;
  const hi = clip;
  const lo = -clip;
  const TWO32 = 4294967296;
  let clipped = 0;
  for (let i = 0; i < m; i++) {
    let x = update[i]!;
    if (x > hi) { x = hi; clipped++; } else if (x < lo) { x = lo; clipped++; }
    const y = x * scale;
    const fl = Math.floor(y);
    // Typed-array stores reduce modulo 2^32, so negative values wrap to their two's complement.
    out[i] = out[i]! < (y - fl) * TWO32 ? fl + 1 : fl;
  }
  out[m] = weight;
  out[m + 1] = Math.round((clipped / Math.max(1, m)) * CLIP_FRACTION_ONE);
  return { vector: out, clipped };
}

export interface DecodedSum {
  mean: Float32Array;
  totalWeight: number;
  /** Mean over contributors of their clipped fraction. */
  clippedFraction: number;
}

export function decodeSum(sum: Uint32Array, contributors: number, maxWeight: number, f: number): DecodedSum {
  const m = sum.length - TRAILER;
  const totalWeight = sum[m]!;
  const mean = new Float32Array(m);
  const factor = maxWeight / (2 ** f * totalWeight);
  for (let i = 0; i < m; i++) mean[i] = (sum[i]! | 0) * factor;
  return { mean, totalWeight, clippedFraction: sum[m + 1]! / CLIP_FRACTION_ONE / Math.max(1, contributors) };
}

/** Worst-case absolute error of each coordinate of the decoded mean (before float32 output rounding). */
export function quantisationErrorBound(contributors: number, f: number, totalWeight: number, maxWeight: number): number {
  return (contributors * maxWeight) / (2 ** f * totalWeight);
}
