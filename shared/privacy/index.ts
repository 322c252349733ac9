export { clipL2, type ClipResult } from './clip.js';
export {
  secureUniform, gaussianSource, addGaussianNoise, privatizeLocally, addCentralNoise, type Uniform, type DpSettings,
} from './noise.js';
export { rdpSubsampledGaussian, epsilonFromRdp, computeEpsilon, DEFAULT_ORDERS, type PrivacySpent } from './rdp.js';
