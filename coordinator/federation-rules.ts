import type { FederationConfig } from './federation-config.js';
import { distributedNoiseStd } from '../shared/privacy/dp-fedavg.js';

/** SecAgg+ secret-shares each mask among the other participants; with two, each would learn the other's update. */
export const SECAGG_MIN_CLIENTS = 3;

export interface ConfigProblem { path: string; message: string }

/** Rules that compare individual updates; SecAgg hides those, and DP's sensitivity bound assumes a mean. */
const UPDATE_COMPARING_RULES = new Set(['median', 'trimmed-mean', 'multi-krum']);

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
  const robust = c.robustAggregation;
  if (robust && UPDATE_COMPARING_RULES.has(robust.rule) && c.secureAggregation) {
    problems.push({
      path: 'robustAggregation.rule',
      message: `"${robust.rule}" must see every individual update, which secure aggregation hides; with secureAggregation on only "norm-bound" (clipped on the clients) applies — use rule "norm-bound" or "none", or drop secureAggregation`,
    });
  }
  if (robust?.rule === 'multi-krum' && c.strategy.clientsPerRound <= 2 * robust.byzantine + 2) {
    problems.push({
      path: 'robustAggregation.byzantine',
      message: `multi-Krum tolerating f = ${robust.byzantine} attackers needs more than 2f + 2 = ${2 * robust.byzantine + 2} clients per round, but strategy.clientsPerRound is ${c.strategy.clientsPerRound}`,
    });
  }
  if (c.compression?.upload && c.secureAggregation) {
    problems.push({ path: 'compression.upload', message: 'upload compression applies to plain aggregation only: SecAgg+ sends its own fixed-point encoding; remove compression.upload or secureAggregation' });
  }
  // The federated transition statistics are small counts beside large weights: q8's per-chunk step rounds
  // most of the table to noise and top-k drops it; the simulator sends them float32 beside the codec, the
  // coordinator's wire does not (yet).
  if ((c.model.transitionItems ?? 0) > 0) {
    if (c.compression?.download === 'q8') {
      problems.push({ path: 'compression.download', message: '"q8" would round the federated transition statistics (model.transitionItems) to noise; use "f16" or "f32"' });
    }
    const up = c.compression?.upload?.codec;
    if (up === 'q8' || up === 'topk') {
      problems.push({ path: 'compression.upload', message: `"${up}" would round or drop the federated transition statistics (model.transitionItems); use codec "f16"` });
    }
  }
  const dp = c.dp;
  if (dp?.enabled) {
    if (robust && UPDATE_COMPARING_RULES.has(robust.rule)) {
      problems.push({
        path: 'robustAggregation.rule',
        message: `"${robust.rule}" cannot be combined with dp: the noise is calibrated to the sensitivity C of a mean of clipped updates; use "none" or "norm-bound"`,
      });
    }
    if (robust?.rule === 'norm-bound' && robust.maxNorm < dp.clipNorm) {
      problems.push({ path: 'robustAggregation.maxNorm', message: `norm bound ${robust.maxNorm} is below dp.clipNorm ${dp.clipNorm}; DP already clips to dp.clipNorm, so drop one of them or make them equal` });
    }
    if (dp.mode === 'distributed' && c.secureAggregation) {
      // The SecAgg coordinate clip must leave the noise alone, or the accounted noise is not the noise added.
      const k = dp.plannedContributors ?? c.strategy.clientsPerRound;
      const clip = c.secureAggregation.clip ?? 1;
      const need = dp.clipNorm + 4 * distributedNoiseStd(dp.clipNorm, dp.noiseMultiplier, k);
      if (clip < need) {
        problems.push({
          path: 'secureAggregation.clip',
          message: `distributed DP adds per-client noise of std ${(need - dp.clipNorm) / 4} to updates clipped to ${dp.clipNorm}; the SecAgg coordinate clip (${clip}) must be at least dp.clipNorm + 4·std = ${need.toFixed(4)} so quantisation does not cut the noise`,
        });
      }
    }
    if (dp.plannedContributors !== undefined && dp.mode !== 'distributed') {
      problems.push({ path: 'dp.plannedContributors', message: 'plannedContributors only applies to dp.mode "distributed"' });
    }
    if (dp.sampling === 'poisson') {
      problems.push({ path: 'dp.sampling', message: 'the coordinator selects a fixed-size cohort each round, so its accountant uses the fixed-size bound; set dp.sampling "fixed-size" ("poisson" is for simulations that Poisson-sample)' });
    }
  } else if (dp && !dp.enabled && (dp.mode !== undefined || dp.epsilonBudget !== undefined)) {
    problems.push({ path: 'dp.enabled', message: 'dp settings are given but dp.enabled is false; set dp.enabled: true, or remove dp' });
  }
  return problems;
}
