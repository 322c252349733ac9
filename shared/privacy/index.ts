export { clipL2, type ClipResult } from './clip.js';
export {
  secureUniform, gaussianSource, addGaussianNoise, privatizeLocally, addCentralNoise, type Uniform, type DpSettings,
} from './noise.js';
export {
  rdpSubsampledGaussian, rdpPoissonGaussian, rdpFixedSizeGaussian, rdpOfScheme, epsilonFromRdp, computeEpsilon, noiseForEpsilon, DEFAULT_ORDERS,
  type PrivacySpent, type RdpConversion, type SamplingScheme,
} from './rdp.js';
export { RdpAccountant, type AccountantOptions, type AccountantState } from './accountant.js';
export { CentralDpServerSession, type CentralDpOptions } from './dp-session.js';
export {
  DpConfigSchema, DP_MODES, distributedNoiseStd, privatizeClientUpdate, noiseCentralMean, effectiveNoiseMultiplier,
  roundingL2Bound, clipStats, type DpConfig, type DpMode, type PrivatizedUpdate,
} from './dp-fedavg.js';
export { FederationDp, PrivacyBudgetError, DP_ROUND_METRICS, type ClientDpParams, type PrivacyStatus } from './federation-dp.js';
export { ClientPrivacySchema, takeClientPrivacy, privatizingSession, type ClientPrivacy } from './client-transform.js';
