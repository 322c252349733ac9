import { FedProfileError } from '../errors.js';

/**
 * Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019),
 * integer orders only. For order α, sampling rate q and noise multiplier σ:
 *   A_α = Σ_{k=0..α} C(α,k) (1−q)^{α−k} q^k exp((k² − k) / (2σ²)),   RDP(α) = log(A_α) / (α − 1)
 * composed over T steps as T·RDP(α), and converted to (ε, δ)-DP with ε = min_α T·RDP(α) + log(1/δ)/(α − 1).
 * (The tighter conversion of Balle et al. 2020 would give a smaller ε; this one is the classic bound.)
 */
export const DEFAULT_ORDERS: readonly number[] = [...Array.from({ length: 63 }, (_, i) => i + 2), 80, 96, 128, 256, 512];

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

function logA(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let total = -Infinity;
  let logBinom = 0; // log C(α, 0)
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logBinom += Math.log(alpha - k + 1) - Math.log(k);
    const term = logBinom + (k === 0 ? 0 : k * logQ) + (alpha - k === 0 ? 0 : (alpha - k) * log1mQ) + (k * k - k) / (2 * sigma * sigma);
    total = logAdd(total, term);
  }
  return total;
}

/** RDP of one step of the subsampled Gaussian at each integer order. */
export function rdpSubsampledGaussian(q: number, sigma: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  if (!(q >= 0 && q <= 1)) throw new FedProfileError('BAD_CONFIG', `sampling rate must be in [0, 1], got ${q}`);
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new FedProfileError('BAD_CONFIG', `noise multiplier must be finite and > 0, got ${sigma}`);
  return orders.map((alpha) => {
    if (!Number.isInteger(alpha) || alpha < 2) throw new FedProfileError('BAD_CONFIG', `RDP orders must be integers ≥ 2, got ${alpha}`);
    if (q === 0) return 0;
    if (q === 1) return alpha / (2 * sigma * sigma);
    return logA(q, sigma, alpha) / (alpha - 1);
  });
}

export interface PrivacySpent {
  epsilon: number;
  delta: number;
  /** The order that gave the smallest ε. */
  order: number;
}

export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number): PrivacySpent {
  if (!(delta > 0 && delta < 1)) throw new FedProfileError('BAD_CONFIG', `delta must be in (0, 1), got ${delta}`);
  let best: PrivacySpent = { epsilon: Infinity, delta, order: orders[0] ?? 2 };
  orders.forEach((alpha, i) => {
    const eps = rdp[i]! + Math.log(1 / delta) / (alpha - 1);
    if (eps < best.epsilon) best = { epsilon: eps, delta, order: alpha };
  });
  return best;
}

/** ε at δ after `steps` rounds, each sampling clients with probability q and adding noise σ·C. */
export function computeEpsilon(p: { samplingRate: number; noiseMultiplier: number; steps: number; delta: number; orders?: readonly number[] }): PrivacySpent {
  if (!Number.isInteger(p.steps) || p.steps < 0) throw new FedProfileError('BAD_CONFIG', `steps must be a non-negative integer, got ${p.steps}`);
  const orders = p.orders ?? DEFAULT_ORDERS;
  const rdp = rdpSubsampledGaussian(p.samplingRate, p.noiseMultiplier, orders).map((r) => r * p.steps);
  return epsilonFromRdp(orders, rdp, p.delta);
}
