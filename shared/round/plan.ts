import { ConfigError } from '../errors.js';
import type { StrategyConfig } from '../aggregation/strategy-config.js';

/** How a federation's rounds aggregate: decided once from the strategy and the SecAgg+ options. */
export interface AggregationPlan {
  kind: 'plain' | 'secagg';
  /** Sent to clients with every fit instruction (SecAgg+ options, the dimension and the weight cap). */
  params: Record<string, unknown>;
  /** The one per-client weight cap, used by plain and SecAgg+ alike; undefined = uncapped (plain only). */
  weightCap: number | undefined;
  /** The one quorum: fewest results a round may aggregate. */
  quorum: number;
}

/**
 * The one quorum is the strategy's minFitClients and the one weight cap is its maxExamples. SecAgg+ needs
 * a cap to size its fixed-point encoding, so `secureAggregation.maxWeight` may stand in for a missing
 * maxExamples; two different caps are a configuration error rather than a silent choice.
 */
export function aggregationPlan(strategy: Readonly<StrategyConfig>, secureAggregation: Record<string, unknown> | undefined, dimension: number): AggregationPlan {
  const quorum = strategy.minFitClients;
  if (!secureAggregation) {
    return { kind: 'plain', params: { dimension }, weightCap: strategy.maxExamples, quorum };
  }
  const saCap = secureAggregation.maxWeight;
  if (saCap !== undefined && strategy.maxExamples !== undefined && saCap !== strategy.maxExamples) {
    throw new ConfigError(
      `secureAggregation.maxWeight (${String(saCap)}) and strategy.maxExamples (${strategy.maxExamples}) are two weight caps; set only strategy.maxExamples`,
      { problems: ['secureAggregation.maxWeight: conflicts with strategy.maxExamples'] },
    );
  }
  const weightCap = strategy.maxExamples ?? (typeof saCap === 'number' ? saCap : undefined);
  const params: Record<string, unknown> = { ...secureAggregation, dimension };
  if (weightCap !== undefined) params.maxWeight = weightCap;
  return { kind: 'secagg', params, weightCap, quorum };
}
