import type { FederationConfig } from './federation-config.js';

/** SecAgg+ secret-shares each mask among the other participants; with two, each would learn the other's update. */
export const SECAGG_MIN_CLIENTS = 3;

export interface ConfigProblem { path: string; message: string }

/**
 * Rules that span several sections of a parsed federation config, checked when a federation is created
 * (a refused config never writes anything). Returns every problem, each naming the field to change.
 */
export function federationConfigProblems(c: FederationConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (c.secureAggregation && c.strategy.minFitClients < SECAGG_MIN_CLIENTS) {
    problems.push({
      path: 'strategy.minFitClients',
      message: `secure aggregation needs at least ${SECAGG_MIN_CLIENTS} clients per round, but the quorum is ${c.strategy.minFitClients}`
        + ` (minFitClients defaults to min(2, clientsPerRound)); set strategy.minFitClients ≥ ${SECAGG_MIN_CLIENTS}, or drop secureAggregation`,
    });
  }
  return problems;
}
