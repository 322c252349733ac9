/** The coordinator's public surface: start one in-process, or build the CLI command. */
export { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './server.js';
export { coordinatorCommand } from './cli.js';
export { FederationConfigSchema, SecureAggregationConfigSchema, type FederationConfig, type FederationConfigInput } from './federation-config.js';
export { validateFederationConfig } from './federation-validation.js';
export { ModelLimitsSchema, DEFAULT_MODEL_LIMITS, parameterCount, type ModelLimits } from './model-limits.js';
export type { CheckpointWriter } from './checkpoints.js';
export { RoundEngine } from '../shared/round/engine.js';
export type {
  RoundEvent, RoundCommand, RoundEngineConfig, RoundPlanner, ResumePoint, FederationStatus, RoundSummary,
} from '../shared/round/types.js';
export { registerServerAggregator, type ServerAggregatorFactory, type ServerAggregatorArgs } from '../shared/round/server-aggregators.js';
export type { InitModel, GlobalModel } from './runtime/federation-runtime.js';
