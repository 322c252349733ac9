export type { Outbound, AggregationOutcome, ServerAggregationSession, ClientAggregationSession } from './seam.js';
export {
  MeanAccumulator, weightedMean, resultInChunks, assertFiniteRange,
  DEFAULT_YIELD_EVERY, type WeightedUpdate,
} from './mean.js';
export {
  createServerOptimizer, serializeServerOptimizerState, deserializeServerOptimizerState, SERVER_OPTIMIZER_DEFAULTS,
  type ServerOptimizer, type ServerOptimizerConfig, type ServerOptimizerName, type ServerOptimizerState,
  type SerializedServerOptimizerState,
} from './server-optimizers.js';
export {
  createStrategy, type Strategy, type StrategyState, type ClientProxy, type FitInstruction, type FitAggregationInfo,
  type EvaluateReport,
} from './strategy.js';
export {
  StrategyConfigSchema, parseStrategyConfig, phaseForRound, learningRateForRound, serverLearningRateOf, STRATEGY_NAMES,
  type StrategyConfig, type StrategyConfigInput, type StrategyName,
} from './strategy-config.js';
export { sampleIds, overSelectedCount, drawSeed } from './sampling.js';
