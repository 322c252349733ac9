import seedrandom from 'seedrandom';

/**
 * The round engine's random streams: a pure function of (federation seed, round, purpose), so the
 * coordinator and the simulator select the same clients and hand them the same local seeds, whatever the
 * host or the order clients connected in. Selection itself is sampleIds (shared/aggregation/sampling.ts).
 */
export function roundRng(seed: number, round: number, purpose: 'fit' | 'evaluate' | string): () => number {
  return seedrandom(`fedprofile:${seed}:${round}:${purpose}`);
}
