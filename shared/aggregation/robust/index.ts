export { coordinateMedian, trimmedMean, trimCount, multiKrum, normBoundedMean } from './rules.js';
export { RobustAggregationSchema, checkRobustAggregation, type RobustAggregation, type RobustRule } from './config.js';
export { RobustServerSession, type RobustSessionOptions } from './session.js';
