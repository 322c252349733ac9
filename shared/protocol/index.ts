export * from './version.js';
export * from './codec.js';
export * from './chunks.js';
export * from './messages.js';
export * from './transport.js';
export * from './budget.js';
