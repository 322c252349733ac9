/** The coordinator's public surface: start one in-process, or build the CLI command. */
export { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './server.js';
export { coordinatorCommand } from './cli.js';
export { FederationConfigSchema, type FederationConfig, type FederationConfigInput } from './federation-config.js';
export { RoundEngine } from '../shared/round/engine.js';
export type {
  RoundEvent, RoundCommand, RoundEngineConfig, RoundPlanner, ResumePoint, FederationStatus, RoundSummary,
} from '../shared/round/types.js';
export { registerServerAggregator, type ServerAggregatorFactory, type ServerAggregatorArgs } from '../shared/round/server-aggregators.js';
export type { InitModel, GlobalModel } from './runtime/federation-runtime.js';
