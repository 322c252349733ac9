import { z } from 'zod';
import { FedProfileError } from '../errors.js';
import { clipL2 } from './clip.js';
import { addGaussianNoise, gaussianSource } from './noise.js';

/**
 * DP-FedAvg (McMahan, Ramage, Talwar & Zhang 2018, "Learning Differentially Private Recurrent Language
 * Models"), client-level: every client's update is clipped to L2 norm ≤ C, all updates count equally, and
 * Gaussian noise of standard deviation z·C is added to their sum (so z·C/n to their mean). The noise is added
 *
 * - centrally: by the coordinator to the unmasked sum (it sees the noiseless sum; trust in the coordinator),
 * - or distributed: each client adds N(0, (z·C)²/k) before its update leaves the device (and before SecAgg
 *   masking), k being the planned number of contributors, so the coordinator only ever sees a noised sum.
 *   When fewer than k contribute, the sum carries less noise: the effective multiplier is z·√(n/k), and that
 *   is what the accountant is charged.
 *
 * Under SecAgg each noised value is then stochastically rounded to the fixed-point grid 2^-f (quantise.ts).
 * Rounding bound (instead of a discrete Gaussian): the rounding moves a client's vector by at most √m·2^-f
 * in L2, so the accountant uses the sensitivity C + √m·2^-f, i.e. the multiplier z·C/(C + √m·2^-f). The
 * SecAgg coordinate clip must leave the noise alone: parseDpConfig-side validation requires it to be at
 * least 4 per-client noise standard deviations above nothing (c ≥ C + 4σ_client), and the round reports how
 * many coordinates were clipped anyway (secagg clippedFraction) — the guarantee assumes none were.
 */

export const DP_MODES = ['central', 'distributed'] as const;
export type DpMode = (typeof DP_MODES)[number];

export const DpConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** central: the coordinator noises the unmasked sum; distributed: clients noise their share before masking. */
  mode: z.enum(DP_MODES).optional(),
  /** C: each client's update is scaled down to L2 norm ≤ C. */
  clipNorm: z.number().positive().max(1e6).default(1),
  /** z: noise standard deviation on the sum is z·C. */
  noiseMultiplier: z.number().positive().max(100).default(1),
  delta: z.number().gt(0).lt(1).default(1e-5),
  /** How clients are sampled each round; the accountant uses the matching bound. */
  sampling: z.enum(['fixed-size', 'poisson']).default('fixed-size'),
  /**
   * Distributed mode: how many contributors' noise shares must add up to the full z·C (each adds
   * z·C/√k). Fewer contributors than this leave less noise and the accountant is charged for it; more
   * add extra noise. Default: the cohort size less the expected dropouts.
   */
  plannedContributors: z.number().int().min(1).max(1_000_000).optional(),
  /** Stop the federation before a round would take ε past this. */
  epsilonBudget: z.number().positive().max(1e6).optional(),
});
export type DpConfig = z.output<typeof DpConfigSchema>;

/** Per-client noise standard deviation in distributed mode. */
export function distributedNoiseStd(clipNorm: number, noiseMultiplier: number, plannedContributors: number): number {
  if (!Number.isInteger(plannedContributors) || plannedContributors < 1) {
    throw new FedProfileError('BAD_CONFIG', `planned contributors must be an integer ≥ 1, got ${plannedContributors}`);
  }
  return (noiseMultiplier * clipNorm) / Math.sqrt(plannedContributors);
}

export interface PrivatizedUpdate {
  values: Float32Array;
  /** L2 norm before clipping. */
  norm: number;
  clipped: boolean;
}

/** The client side: clip to C, then (distributed mode) add this client's share of the noise. */
export function privatizeClientUpdate(
  update: Float32Array, p: { clipNorm: number; noiseStd: number }, normal: () => number = gaussianSource(),
): PrivatizedUpdate {
  const c = clipL2(update, p.clipNorm);
  const values = p.noiseStd > 0 ? addGaussianNoise(c.values, p.noiseStd, normal) : c.values;
  return { values, norm: c.norm, clipped: c.clipped };
}

/** The coordinator side in central mode: noise N(0, (zC)²) on the sum is N(0, (zC/n)²) on the mean. */
export function noiseCentralMean(mean: Float32Array, contributors: number, clipNorm: number, noiseMultiplier: number, normal: () => number = gaussianSource()): Float32Array {
  if (!Number.isInteger(contributors) || contributors < 1) throw new FedProfileError('BAD_INPUT', `central DP needs ≥ 1 contributor, got ${contributors}`);
  return addGaussianNoise(mean, (noiseMultiplier * clipNorm) / contributors, normal);
}

/**
 * The noise multiplier the round actually achieved, for the accountant: total noise std on the sum over the
 * sensitivity. `roundingL2` is the worst-case L2 shift of one client's vector by fixed-point rounding (0 in
 * plain mode).
 */
export function effectiveNoiseMultiplier(p: {
  mode: DpMode; clipNorm: number; noiseMultiplier: number; contributors: number; plannedContributors: number; roundingL2?: number;
}): number {
  const sumStd = p.mode === 'central'
    ? p.noiseMultiplier * p.clipNorm
    : distributedNoiseStd(p.clipNorm, p.noiseMultiplier, p.plannedContributors) * Math.sqrt(p.contributors);
  return sumStd / (p.clipNorm + (p.roundingL2 ?? 0));
}

/** Worst-case L2 shift of an m-vector by stochastic rounding to the grid 2^-f. */
export function roundingL2Bound(dimension: number, fractionalBits: number): number {
  return Math.sqrt(dimension) * 2 ** -fractionalBits;
}

/** Fraction of updates that were clipped, and their mean pre-clip norm, for the round record. */
export function clipStats(updates: readonly PrivatizedUpdate[]): { clippedFraction: number; meanNorm: number } {
  if (updates.length === 0) return { clippedFraction: 0, meanNorm: 0 };
  return {
    clippedFraction: updates.filter((u) => u.clipped).length / updates.length,
    meanNorm: updates.reduce((s, u) => s + u.norm, 0) / updates.length,
  };
}


