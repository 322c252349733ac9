export * from './generate.js';
export * from './catalogue.js';
export * from './truth.js';
