import { z } from 'zod';
import { ConfigError } from '../errors.js';

/**
 * SecAgg+ parameters. `neighbors` (k) and `threshold` (t) may be left out: they are then derived from the
 * number of participants n when the round begins (see `deriveGraphParams`).
 */
export const SecAggParamsSchema = z.object({
  federationId: z.string().min(1).max(256),
  round: z.number().int().min(0).max(0xffffffff),
  /** Length of every update (the model's parameter count). */
  dimension: z.number().int().min(1).max(1 << 28),
  /** Each coordinate is clipped to [-clip, clip] before quantisation; the clipped fraction is reported. */
  clip: z.number().positive().finite().default(1),
  /**
   * Largest weight (example count) a client may carry; larger weights are capped and counted. Keep it close
   * to the real largest weight: the fixed-point resolution of the mean scales with maxWeight / mean weight.
   */
  maxWeight: z.number().int().min(1).max(0xffffffff).default(1000),
  neighbors: z.number().int().min(2).max(254).optional(),
  threshold: z.number().int().min(2).max(254).optional(),
  /** Independent per-client dropout rate the derived k must survive (used only when neighbors is unset). */
  expectedDropout: z.number().min(0).max(0.45).default(0.1),
  /** Target probability that a round aborts because some node kept fewer than t live neighbours. */
  maxAbortProbability: z.number().gt(0).lt(1).default(1e-6),
});
export type SecAggParamsInput = z.input<typeof SecAggParamsSchema>;
export type SecAggParams = z.output<typeof SecAggParamsSchema>;

export function parseSecAggParams(input: unknown): SecAggParams {
  const r = SecAggParamsSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(`secure aggregation parameter ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
  }
  const p = r.data;
  if (p.neighbors !== undefined && p.threshold !== undefined && 2 * p.threshold <= p.neighbors) {
    throw new ConfigError(`threshold (${p.threshold}) must be greater than neighbors/2 (${p.neighbors / 2}): `
      + 'otherwise a server that lies about who dropped can collect both shares of an honest client');
  }
  if (p.neighbors !== undefined && p.threshold !== undefined && p.threshold > p.neighbors) {
    throw new ConfigError(`threshold (${p.threshold}) cannot exceed neighbors (${p.neighbors})`);
  }
  return p;
}

/** ln P(Bin(k, p) < t), computed in log space so k in the hundreds stays exact enough. */
function logBinomialLowerTail(k: number, p: number, t: number): number {
  if (t <= 0) return -Infinity;
  if (p >= 1) return -Infinity;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let logC = 0; // ln C(k, 0)
  let acc = -Infinity;
  for (let i = 0; i < t; i++) {
    const term = logC + i * lp + (k - i) * lq;
    acc = acc === -Infinity ? term : Math.max(acc, term) + Math.log1p(Math.exp(-Math.abs(acc - term)));
    logC += Math.log((k - i) / (i + 1));
  }
  return acc;
}

/** Union bound on the probability that some node keeps fewer than t of its k neighbours alive. */
export function abortProbability(n: number, k: number, t: number, dropout: number): number {
  return Math.min(1, n * Math.exp(logBinomialLowerTail(k, 1 - dropout, t)));
}

export interface GraphParams { neighbors: number; threshold: number }

/**
 * Defaults, and why they are safe.
 * - t = ⌊k/2⌋ + 1 (the smallest t > k/2). Each honest neighbour reveals only one share of a node (the seed
 *   share if it was told the node survived, the key share if it was told it dropped), so even a server that
 *   lies about dropouts collects at most k shares in total and can never reach t of both kinds: both the
 *   self-mask seed and the mask key of one honest node would need 2t > k shares. A server colluding with c
 *   of a node's neighbours needs c >= 2t − k of them to break that node.
 * - k is the smallest even k (the graph is a randomly labelled Harary graph, k/2 on each side of a ring)
 *   for which, with each client dropping independently with probability `expectedDropout`, the union bound
 *   n · P(Bin(k, 1 − δ) < t) is at most `maxAbortProbability`. That grows as O(log n) for fixed δ: with
 *   δ = 0.1 and 1e-6 it gives k = 34 for n = 100, 36 for n = 500, 40 for n = 5000 (each node tolerates
 *   k − t = k/2 − 1 of its neighbours dropping). With δ = 0.3 it needs k ≈ 200: high dropout costs degree.
 * - With k ≥ n − 1 the graph is complete (the original Bonawitz et al. protocol).
 */
export function deriveGraphParams(n: number, p: SecAggParams): GraphParams {
  if (n < 3) throw new ConfigError(`secure aggregation needs at least 3 participants, got ${n}`);
  let k: number;
  if (p.neighbors !== undefined) {
    k = Math.min(p.neighbors, n - 1);
    if (k < n - 1 && k % 2 === 1) {
      throw new ConfigError(`neighbors must be even when smaller than n − 1 (got ${k} for n = ${n}): `
        + 'the neighbour graph is a ring with k/2 neighbours on each side');
    }
  } else {
    k = n - 1;
    for (let cand = 4; cand < n - 1 && cand <= 254; cand += 2) {
      if (abortProbability(n, cand, cand / 2 + 1, p.expectedDropout) <= p.maxAbortProbability) { k = cand; break; }
    }
    k = Math.min(k, 254);
  }
  const t = p.threshold ?? Math.floor(k / 2) + 1;
  if (t > k) throw new ConfigError(`threshold ${t} exceeds the ${k} neighbours available with ${n} participants`);
  if (2 * t <= k) throw new ConfigError(`threshold ${t} must be greater than half of the ${k} neighbours`);
  if (t < 2) throw new ConfigError('threshold must be at least 2');
  return { neighbors: k, threshold: t };
}
