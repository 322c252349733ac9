import { createStrategy } from '../shared/aggregation/strategy.js';
import { FedProfileError } from '../shared/errors.js';
import { FederationConfigSchema, MAX_JSON_DEPTH, jsonDeeperThan, type FederationConfig } from './federation-config.js';
import { fromZod } from './http-errors.js';
import { federationConfigProblems } from './federation-rules.js';
import { assertModelWithinLimits, type ModelLimits } from './model-limits.js';

/**
 * Everything a federation config must pass before the coordinator changes any state for it (no checkpoint
 * directory, no row, no weights allocated): bounded nesting, the strict schema (strategy and SecAgg+
 * included), the rules across sections, the strategy's own cross-field checks, and the model size limits.
 */
export function validateFederationConfig(input: unknown, limits: ModelLimits): FederationConfig {
  if (jsonDeeperThan(input, MAX_JSON_DEPTH)) {
    throw new FedProfileError('BAD_INPUT', `invalid federation config: (root): nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const parsed = FederationConfigSchema.safeParse(input);
  if (!parsed.success) throw fromZod(parsed.error, 'federation config');
  // Cross-section rules (SecAgg quorum, DP / robust rule / compression combinations), for every caller.
  const problems = federationConfigProblems(parsed.data);
  if (problems.length > 0) {
    throw new FedProfileError('BAD_INPUT', `invalid federation config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { issues: problems });
  }
  try {
    createStrategy(parsed.data.strategy);
  } catch (e) {
    throw new FedProfileError('BAD_INPUT', `invalid federation config: strategy: ${e instanceof Error ? e.message : String(e)}`);
  }
  assertModelWithinLimits(parsed.data.model, limits);
  return parsed.data;
}
