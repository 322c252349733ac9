import { createHash } from 'node:crypto';
import { indexFrom, seededUniform, type RandomIndex } from '../../shared/random.js';

/**
 * A client's stochastic-rounding seed for one round, a pure function of (config seed, strategy, round,
 * client id), so SecAgg+ runs repeat bit for bit. Keys and mask seeds stay fresh from the OS CSPRNG: the
 * masks cancel exactly, so only the rounding reaches the result (see SecAggClientOptions.roundingSeed).
 */
export function simulationRoundingSeed(seed: number, strategy: string, round: number, clientId: string): Uint8Array {
  const label = JSON.stringify(['fedprofile/simulation/secagg-rounding', seed, strategy, round, clientId]);
  return new Uint8Array(createHash('sha256').update(label).digest());
}

/**
 * The neighbour graph's relabelling for one round, seeded likewise: with stragglers the graph decides who
 * is pruned for too few neighbours, and so who contributes.
 */
export function simulationGraphIndex(seed: number, strategy: string, round: number): RandomIndex {
  return indexFrom(seededUniform(`${seed}/${strategy}/${round}/secagg-graph`));
}
