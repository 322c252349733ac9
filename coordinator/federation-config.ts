import { z } from 'zod';
import { ModelConfigSchema } from '../shared/model/config.js';
import { StrategyConfigSchema } from '../shared/aggregation/strategy-config.js';
import { DEFAULT_FAILURE_POLICY, FailurePolicySchema } from '../shared/round/backoff.js';
import { UpdateBoundsSchema } from '../shared/aggregation/update-bounds.js';
import { SecAggParamsSchema } from '../shared/secagg/params.js';
import { DpConfigSchema } from '../shared/privacy/dp-fedavg.js';
import { RobustAggregationSchema } from '../shared/aggregation/robust/config.js';
import { UploadCompressionSchema } from '../shared/compression/upload.js';

/**
 * The operator-settable SecAgg+ options: the session's own parameters minus what the coordinator fills in
 * per round (federation, round, dimension). Strict, so a typo or an unknown key is refused at creation
 * rather than crashing the first round.
 */
export const SecureAggregationConfigSchema = SecAggParamsSchema.omit({ federationId: true, round: true, dimension: true })
  .strict()
  .superRefine((p, ctx) => {
    if (p.neighbors !== undefined && p.threshold !== undefined) {
      if (p.threshold > p.neighbors) {
        ctx.addIssue({ code: 'custom', path: ['threshold'], message: `threshold (${p.threshold}) cannot exceed neighbors (${p.neighbors})` });
      } else if (2 * p.threshold <= p.neighbors) {
        ctx.addIssue({ code: 'custom', path: ['threshold'], message: `threshold (${p.threshold}) must be greater than neighbors/2 (${p.neighbors / 2})` });
      }
    }
  });

/** Deepest JSON nesting accepted in an API body; far above any real config, far below a stack overflow. */
export const MAX_JSON_DEPTH = 32;

/** True when `value` nests deeper than `maxDepth` (iterative, so a 60k-deep body cannot overflow the stack). */
export function jsonDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return true;
    for (const x of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) stack.push([x, depth + 1]);
  }
  return false;
}

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
  secureAggregation: SecureAggregationConfigSchema.optional(),
  /** Backoff between failed rounds and the number of consecutive failures that pauses the federation. */
  failurePolicy: FailurePolicySchema.default(DEFAULT_FAILURE_POLICY),
  /** Limits every plain update must meet before it is summed, and the aggregate before commit. */
  updateBounds: UpdateBoundsSchema.default(UpdateBoundsSchema.parse({})),
  /**
   * Client-level DP-FedAvg: clip every update to dp.clipNorm and add Gaussian noise z·C to the sum, centrally
   * (the coordinator, on the unmasked sum) or distributed (each client its share, before masking). ε per
   * round is accounted (RDP) and the federation pauses before a round would pass dp.epsilonBudget.
   */
  dp: DpConfigSchema.optional(),
  /**
   * How a plain-mode round combines updates: none (weighted mean), median, trimmed-mean, multi-krum, or
   * norm-bound. With secure aggregation only norm-bound applies (as client-side clipping).
   */
  robustAggregation: RobustAggregationSchema.optional(),
  /**
   * Wire encodings. download: the global model clients fetch (f16, q8; they train from the decoded model);
   * upload (plain mode only): f16, q8 or top-k updates, with error feedback on the clients.
   */
  compression: z.strictObject({ download: z.enum(['f32', 'f16', 'q8']).optional(), upload: UploadCompressionSchema.optional() }).optional(),
});

export type FederationConfig = z.output<typeof FederationConfigSchema>;
export type FederationConfigInput = z.input<typeof FederationConfigSchema>;
