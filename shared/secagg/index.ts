export { SecAggServerSession, type SecAggServerOptions, type SecAggServerStage } from './server.js';
export { SecAggClientSession, type SecAggClientOptions, type SecAggClientStage } from './client.js';
export { runSecAggInMemory, cpuClockMs, type DropPoint, type InMemoryRunOptions, type InMemoryRunResult } from './driver.js';
export {
  SecAggParamsSchema, parseSecAggParams, deriveGraphParams, abortProbability,
  type SecAggParams, type SecAggParamsInput, type GraphParams,
} from './params.js';
export { fractionalBits, quantisationErrorBound, clientBitWidth, TRAILER, type RoundingSource } from './quantise.js';
export type { RandomIndex } from './graph.js';
export { generateIdentity, type IdentityKeyPair } from './keys.js';
export { SecAggError, type SecAggRejection } from './errors.js';
export { MSG as SECAGG_MESSAGES, wireSize } from './messages.js';
