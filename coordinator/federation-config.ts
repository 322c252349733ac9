import { z } from 'zod';
import { ModelConfigSchema } from '../shared/model/config.js';
import { StrategyConfigSchema } from '../shared/aggregation/strategy-config.js';
import { DEFAULT_FAILURE_POLICY, FailurePolicySchema } from '../shared/round/backoff.js';

/**
 * What an operator sends to create a federation. Client sampling, quorum, local training and evaluation
 * cadence are strategy settings (see StrategyConfigSchema); the rest is the federation's own.
 */
export const FederationConfigSchema = z.strictObject({
  name: z.string().min(1).max(200),
  model: ModelConfigSchema,
  /** Seeds model initialisation, client sampling and the clients' training seeds. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  rounds: z.number().int().min(1).max(100_000),
  /** A round starts only when this many clients are online (defaults to the strategy's minFitClients). */
  minClients: z.number().int().min(1).max(100_000).optional(),
  strategy: z.unknown().optional().transform((v, ctx) => {
    const r = StrategyConfigSchema.safeParse(v ?? {});
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', path: issue.path.map(String), message: issue.message });
    return z.NEVER;
  }),
  deadlines: z.strictObject({
    /** From the fit instruction to the update: local training must fit in it. */
    trainMs: z.number().int().min(100).max(86_400_000).default(600_000),
    /** Each later aggregation stage (SecAgg+ unmasking, ...). */
    aggregationStageMs: z.number().int().min(100).max(3_600_000).default(60_000),
    evaluateMs: z.number().int().min(100).max(86_400_000).default(120_000),
  }).default({ trainMs: 600_000, aggregationStageMs: 60_000, evaluateMs: 120_000 }),
  /** SecAgg+ options (neighbors, threshold, clip, maxWeight, ...); absent = plain aggregation. */
  secureAggregation: z.record(z.string(), z.unknown()).optional(),
  /** Backoff between failed rounds and the number of consecutive failures that pauses the federation. */
  failurePolicy: FailurePolicySchema.default(DEFAULT_FAILURE_POLICY),
});

export type FederationConfig = z.output<typeof FederationConfigSchema>;
export type FederationConfigInput = z.input<typeof FederationConfigSchema>;
