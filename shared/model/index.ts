export * from './config.js';
export * from './batch.js';
export * from './profile-model.js';
export * from './init.js';
export * from './profile.js';
export * from './train-step.js';
export * from './next-item-statistics.js';
export * from './statistics-weights.js';
