/** The fedprofile client SDK: what a merchant's application imports to run a client node. */
export { FederatedClient, type FederatedClientOptions, type FederatedClientEvents } from './federated-client.js';
export { createDataSourceTrainer, type DataSource, type DataSourceTrainerOptions, type DataSourceReport } from './data-source.js';
export { ModelCache, type CachedModel } from './model-cache.js';
export { loadOrCreateIdentity } from './identity.js';
export { registerClientAggregator, type ClientAggregatorFactory, type ClientAggregatorArgs } from './aggregators.js';
export { clientCommand } from './cli.js';
export type { LocalTrainer, FitConfig, FitResult, EvaluateResult, TrainingProgress } from '../shared/training/types.js';
export type { BehaviourEvent } from '../shared/data/events.js';
export type { UserProfile } from '../shared/model/profile.js';
export { LocalProfiler, type LocalEvaluateOptions, type LocalEvaluation, type LocalProfilerOptions, type ProfileRequest } from './local-profiler.js';
