/**
 * The fedprofile library used by the coordinator, the client SDK and the simulations, one namespace per role.
 * `import { model, secagg } from 'fedprofile/shared'`.
 */
export * from './errors.js';
export * as tfBackend from './tf/index.js';
export * as data from './data/index.js';
export * as model from './model/index.js';
export * as training from './training/index.js';
export * as weights from './weights/index.js';
export * as aggregation from './aggregation/index.js';
export * as secagg from './secagg/index.js';
export * as privacy from './privacy/index.js';
export * as protocol from './protocol/index.js';
