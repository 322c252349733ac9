import { z } from 'zod';
import { ConfigError } from '../../errors.js';

/**
 * Which rule turns a plain-mode round's updates into one. 'mean' is FedAvg's weighted mean. Median,
 * trimmed mean and multi-Krum must see each update, so they are refused with SecAgg on. Norm bounding
 * survives SecAgg only as client-side clipping: the coordinator cannot check a masked update's norm, so a
 * malicious client that skips the clipping is not stopped (only the fixed-point range caps each coordinate).
 */
export const RobustAggregationSchema = z.discriminatedUnion('rule', [
  z.strictObject({ rule: z.literal('mean') }),
  /** Same as 'mean': no robust rule. */
  z.strictObject({ rule: z.literal('none') }),
  z.strictObject({ rule: z.literal('median') }),
  /** β: fraction trimmed from each end of every coordinate; set it ≥ the expected attacker fraction. */
  z.strictObject({ rule: z.literal('trimmed-mean'), trimFraction: z.number().min(0).lt(0.5).default(0.2) }),
  /** f: attackers tolerated (needs > 2f + 2 updates per round); select: updates averaged (default n − f). */
  z.strictObject({ rule: z.literal('multi-krum'), byzantine: z.number().int().min(0).max(10_000), select: z.number().int().min(1).optional() }),
  z.strictObject({ rule: z.literal('norm-bound'), maxNorm: z.number().positive().max(1e6) }),
]);
export type RobustAggregation = z.output<typeof RobustAggregationSchema>;
export type RobustRule = RobustAggregation['rule'];

/** Throws a ConfigError naming the field when the rule cannot work under SecAgg or with this cohort size. */
export function checkRobustAggregation(r: RobustAggregation, opts: { secureAggregation: boolean; clientsPerRound: number; field?: string }): void {
  const field = opts.field ?? 'robustAggregation';
  if (opts.secureAggregation && r.rule !== 'mean' && r.rule !== 'none' && r.rule !== 'norm-bound') {
    throw new ConfigError(`${field}.rule: "${r.rule}" needs every individual update, which SecAgg hides; with secure aggregation on only "norm-bound" (client-side clipping) applies`, { field: `${field}.rule` });
  }
  if (r.rule === 'multi-krum' && opts.clientsPerRound <= 2 * r.byzantine + 2) {
    throw new ConfigError(`${field}.byzantine: multi-Krum with f = ${r.byzantine} needs more than ${2 * r.byzantine + 2} clients per round, got ${opts.clientsPerRound}`, { field: `${field}.byzantine` });
  }
}
