import { z } from 'zod';

/**
 * What the coordinator does when rounds keep failing: wait `backoffMs`, doubling after each consecutive
 * failure up to `maxBackoffMs`, and after `maxConsecutiveFailures` pause the federation for the operator
 * rather than retrain every good client again and again.
 */
export const FailurePolicySchema = z.strictObject({
  backoffMs: z.number().int().min(0).max(3_600_000).default(5_000),
  maxBackoffMs: z.number().int().min(0).max(86_400_000).default(300_000),
  maxConsecutiveFailures: z.number().int().min(1).max(10_000).default(5),
}).refine((p) => p.maxBackoffMs >= p.backoffMs, { path: ['maxBackoffMs'], message: 'must be ≥ backoffMs' });

export type FailurePolicy = z.output<typeof FailurePolicySchema>;
export const DEFAULT_FAILURE_POLICY: FailurePolicy = FailurePolicySchema.parse({});

/** Delay before the next round after `failures` consecutive failed rounds (1 = the first failure). */
export function backoffDelayMs(policy: FailurePolicy, failures: number): number {
  if (failures <= 0) return 0;
  // 2^30 already exceeds any cap the schema allows; clamping the exponent avoids Infinity.
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.min(failures - 1, 30));
}

export type FailureDecision =
  | { kind: 'retry'; retryAt: number; delayMs: number }
  | { kind: 'pause'; reason: string };

/** After a failed round: when the next one may start, or that the federation pauses (and why). */
export function afterRoundFailure(policy: FailurePolicy, consecutiveFailures: number, now: number, lastReason: string): FailureDecision {
  if (consecutiveFailures >= policy.maxConsecutiveFailures) {
    return {
      kind: 'pause',
      reason: `paused after ${consecutiveFailures} consecutive failed round${consecutiveFailures === 1 ? '' : 's'}; last failure: ${lastReason}. `
        + 'Fix the cause (see the clients\' errors), then resume.',
    };
  }
  const delayMs = backoffDelayMs(policy, consecutiveFailures);
  return { kind: 'retry', retryAt: now + delayMs, delayMs };
}
