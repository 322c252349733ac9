import type { Strategy } from '../aggregation/strategy.js';
import type { RoundPlanner } from './types.js';

/** Adapts the Flower-style Strategy to the round engine's planner hooks. */
export function plannerFromStrategy(strategy: Strategy): RoundPlanner {
  return {
    configureFit: (round, available, rng) => strategy.configureFit(round, available.map((id) => ({ id })), rng),
    minFitResults: () => strategy.minFitResults(),
    targetFitResults: () => strategy.config.clientsPerRound,
    configureEvaluate: (round, available, rng) => strategy.configureEvaluate(round, available.map((id) => ({ id })), rng).map((c) => c.clientId),
    aggregateEvaluate: (round, results) => strategy.aggregateEvaluate(round, results),
  };
}
