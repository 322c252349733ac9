import { FedProfileError } from '../errors.js';
import { logAdd, logBinomial, logErfc, logSub, logSubSigned } from './log-math.js';

/**
 * Rényi-DP of the subsampled Gaussian mechanism, and its conversion to (ε, δ)-DP.
 *
 * Poisson sampling (each client joins a round independently with probability q), add/remove-one adjacency:
 * Mironov, Talwar & Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism", §3.3:
 *   integer α:    A_α = Σ_{k=0..α} C(α,k) (1−q)^{α−k} q^k exp((k² − k)/(2σ²)),
 *   fractional α: the two-sided series of their §3.3 with erfc tails,
 *   RDP(α) = log(A_α)/(α − 1).
 * Fixed-size sampling without replacement (m of n clients per round, q = m/n), replace-one adjacency:
 * Wang, Balle & Kasiviswanathan 2019, "Subsampled Rényi DP and Analytical Moments Accountant", Theorem 27,
 * exact for integer α ≤ 256 (forward differences of exp of the Gaussian's CGF), its cheaper bound above,
 * and Corollary 10's linear interpolation of the CGF for fractional α.
 *
 * Both are the computations TensorFlow Privacy's rdp_accountant and Opacus's analysis/rdp perform; the tests
 * check our values against theirs. Composition over rounds adds RDP order by order.
 */

/** The orders TF Privacy's compute_dp_sgd_privacy and dp_accounting use by default. */
export const DEFAULT_ORDERS: readonly number[] = [
  1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, ...Array.from({ length: 59 }, (_, i) => i + 5), 128, 256, 512,
];

export type SamplingScheme = 'poisson' | 'fixed-size';

function checkArgs(q: number, sigma: number): void {
  if (!(q >= 0 && q <= 1)) throw new FedProfileError('BAD_CONFIG', `sampling rate must be in [0, 1], got ${q}`);
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new FedProfileError('BAD_CONFIG', `noise multiplier must be finite and > 0, got ${sigma}`);
}

function checkOrder(alpha: number, min: number): void {
  if (!(alpha > min) || !Number.isFinite(alpha)) throw new FedProfileError('BAD_CONFIG', `RDP orders must be finite and > ${min}, got ${alpha}`);
}

function logAPoissonInt(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let total = -Infinity;
  for (let k = 0; k <= alpha; k++) {
    total = logAdd(total, logBinomial(alpha, k) + k * logQ + (alpha - k) * log1mQ + (k * k - k) / (2 * sigma * sigma));
  }
  return total;
}

function logAPoissonFrac(q: number, sigma: number, alpha: number): number {
  // A_α split at z0, where the two Gaussians' density ratio equals (1 − q)/q; each half is an alternating
  // binomial series (C(α, i) changes sign for i > α), summed until its terms are below e^-30.
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let coef = 1; // C(α, i) by the recurrence C(α, i) = C(α, i − 1)·(α − i + 1)/i
  for (let i = 0; ; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = Math.log(Math.abs(coef));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30 || i > 100_000) break;
  }
  return logAdd(logA0, logA1);
}

/** RDP of one Poisson-subsampled Gaussian step at each order (> 1, fractional allowed). */
export function rdpPoissonGaussian(q: number, sigma: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  checkArgs(q, sigma);
  return orders.map((alpha) => {
    checkOrder(alpha, 1);
    if (q === 0) return 0;
    if (q === 1) return alpha / (2 * sigma * sigma);
    const logA = Number.isInteger(alpha) ? logAPoissonInt(q, sigma, alpha) : logAPoissonFrac(q, sigma, alpha);
    return logA / (alpha - 1);
  });
}

/** Kept for callers of the first version of this module: the Poisson-sampled Gaussian. */
export const rdpSubsampledGaussian = rdpPoissonGaussian;

/**
 * log|Δ^k f(0)| and its sign for k = 0..n+1, f(x) = exp(logF(x)), computed in place on the sequence
 * [1, f(0), f(1), …, f(n+1)] in signed log form (the leading 1 shifts the indices the way Theorem 27 uses them).
 */
function forwardDifferences(logF: (x: number) => number, n: number): number[] {
  const mag = new Float64Array(n + 3);
  const pos = new Array<boolean>(n + 3).fill(true);
  for (let i = 1; i < n + 3; i++) mag[i] = logF(i - 1);
  const deltas: number[] = [];
  for (let pass = 0; pass < n + 2; pass++) {
    const count = n + 2 - pass;
    for (let j = 0; j < count; j++) {
      if (pos[j] === pos[j + 1]) {
        const d = logSubSigned(mag[j + 1]!, mag[j]!);
        mag[j] = d.log;
        pos[j] = pos[j + 1] ? d.positive : !d.positive;
      } else {
        mag[j] = logAdd(mag[j]!, mag[j + 1]!);
        pos[j] = pos[j + 1]!;
      }
    }
    deltas.push(mag[0]!);
  }
  return deltas;
}

const EXACT_WOR_MAX_ORDER = 256;

/** (α − 1)·RDP(α) of one fixed-size-sampled Gaussian step, integer α (Theorem 27 of Wang et al. 2019). */
function cgfWithoutReplacementInt(q: number, sigma: number, alpha: number): number {
  if (alpha === 1) return 0;
  const cgf = (x: number) => (x * (x + 1)) / (2 * sigma * sigma);
  const gaussRdp = (x: number) => x / (2 * sigma * sigma);
  const logQ = Math.log(q);
  const logF2m1 = gaussRdp(2) + Math.log1p(-Math.exp(-gaussRdp(2)));
  const second = 2 * logQ + logBinomial(alpha, 2) + Math.min(Math.log(4) + logF2m1, gaussRdp(2) + Math.log(2));
  let logA = logAdd(0, second);
  const deltas = alpha <= EXACT_WOR_MAX_ORDER ? forwardDifferences(cgf, alpha) : null;
  for (let i = 3; i <= alpha; i++) {
    let s = Math.log(2) + cgf(i - 1);
    if (deltas) {
      const lo = deltas[2 * Math.floor(i / 2) - 1]!;
      const hi = deltas[2 * Math.ceil(i / 2) - 1]!;
      s = Math.min(Math.log(4) + 0.5 * (lo + hi), s);
    }
    logA = logAdd(logA, s + i * logQ + logBinomial(alpha, i));
  }
  return logA;
}

/** RDP of one step that samples a fixed-size subset (q = m/n) without replacement, at each order ≥ 1. */
export function rdpFixedSizeGaussian(q: number, sigma: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  checkArgs(q, sigma);
  return orders.map((alpha) => {
    checkOrder(alpha, 1);
    if (q === 0) return 0;
    if (q === 1) return alpha / (2 * sigma * sigma);
    if (Number.isInteger(alpha)) return cgfWithoutReplacementInt(q, sigma, alpha) / (alpha - 1);
    const lo = Math.floor(alpha);
    const t = alpha - lo;
    return ((1 - t) * cgfWithoutReplacementInt(q, sigma, lo) + t * cgfWithoutReplacementInt(q, sigma, lo + 1)) / (alpha - 1);
  });
}

export function rdpOfScheme(scheme: SamplingScheme, q: number, sigma: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  return scheme === 'poisson' ? rdpPoissonGaussian(q, sigma, orders) : rdpFixedSizeGaussian(q, sigma, orders);
}

/**
 * RDP → (ε, δ):
 * - 'improved' (default): ε = RDP(α) + log(1 − 1/α) − log(δ·α)/(α − 1), Balle et al. 2020 "Hypothesis testing
 *   interpretations and Rényi DP", Theorem 21 (= Canonne, Kamath & Steinke 2020, Proposition 12), with ε = 0
 *   whenever δ² ≥ 1 − e^{−RDP(α)}. This is the conversion of TF Privacy's rdp_accountant (since 2020), of
 *   dp_accounting, and of Opacus's get_privacy_spent.
 * - 'classic': ε = RDP(α) + log(1/δ)/(α − 1), Mironov 2017 Proposition 3, as in Abadi et al. 2016's moments
 *   accountant. Kept to reproduce numbers published with it.
 */
export type RdpConversion = 'improved' | 'classic';

export interface PrivacySpent {
  epsilon: number;
  delta: number;
  /** The order that gave the smallest ε. */
  order: number;
}

export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number, conversion: RdpConversion = 'improved'): PrivacySpent {
  if (!(delta > 0 && delta < 1)) throw new FedProfileError('BAD_CONFIG', `delta must be in (0, 1), got ${delta}`);
  if (orders.length !== rdp.length || orders.length === 0) throw new FedProfileError('BAD_INPUT', 'orders and RDP values must be non-empty and of equal length');
  let best: PrivacySpent = { epsilon: Infinity, delta, order: orders[0]! };
  orders.forEach((alpha, i) => {
    const r = rdp[i]!;
    if (r < 0 || Number.isNaN(r)) throw new FedProfileError('BAD_INPUT', `RDP must be ≥ 0, got ${r} at order ${alpha}`);
    let eps: number;
    if (conversion === 'classic') eps = alpha > 1 ? r + Math.log(1 / delta) / (alpha - 1) : Infinity;
    else if (delta * delta + Math.expm1(-r) >= 0) eps = 0;
    else if (alpha > 1.01) eps = r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1);
    else eps = Infinity;
    if (eps < best.epsilon) best = { epsilon: Math.max(0, eps), delta, order: alpha };
  });
  return best;
}

/** ε at δ after `steps` rounds, each sampling clients at rate q and adding noise σ·C to the sum. */
export function computeEpsilon(p: {
  samplingRate: number; noiseMultiplier: number; steps: number; delta: number;
  orders?: readonly number[]; sampling?: SamplingScheme; conversion?: RdpConversion;
}): PrivacySpent {
  if (!Number.isInteger(p.steps) || p.steps < 0) throw new FedProfileError('BAD_CONFIG', `steps must be a non-negative integer, got ${p.steps}`);
  const orders = p.orders ?? DEFAULT_ORDERS;
  const rdp = rdpOfScheme(p.sampling ?? 'poisson', p.samplingRate, p.noiseMultiplier, orders).map((r) => r * p.steps);
  return epsilonFromRdp(orders, rdp, p.delta, p.conversion ?? 'improved');
}

/**
 * The smallest noise multiplier (to 0.1 %) whose ε after `steps` rounds is at most `targetEpsilon`, by
 * bisection (ε falls monotonically as σ grows). For planning a run to a budget.
 */
export function noiseForEpsilon(p: {
  targetEpsilon: number; samplingRate: number; steps: number; delta: number; sampling?: SamplingScheme; orders?: readonly number[];
}): number {
  if (!(p.targetEpsilon > 0)) throw new FedProfileError('BAD_CONFIG', `target epsilon must be > 0, got ${p.targetEpsilon}`);
  const eps = (sigma: number) => computeEpsilon({ ...p, noiseMultiplier: sigma }).epsilon;
  let lo = 0.05;
  let hi = 1;
  while (eps(hi) > p.targetEpsilon) {
    hi *= 2;
    if (hi > 1e4) throw new FedProfileError('BAD_CONFIG', `no noise multiplier up to 1e4 reaches ε = ${p.targetEpsilon}`);
  }
  if (eps(lo) <= p.targetEpsilon) return lo;
  while (hi - lo > 1e-3 * hi) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > p.targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
