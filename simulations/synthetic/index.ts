export * from './generate.js';
export * from './catalogue.js';
export * from './truth.js';
export { makeRng, gamma, dirichlet, type Rng } from './rng.js';
