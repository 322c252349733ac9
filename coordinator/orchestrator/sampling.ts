import seedrandom from 'seedrandom';

/** Deterministic per-round RNG: same federation seed and round ⇒ same selection, whatever the host. */
export function roundRng(seed: number, round: number, purpose: string): () => number {
  return seedrandom(`fedprofile:${seed}:${round}:${purpose}`);
}

/** k distinct ids drawn uniformly from `available` (sorted first, so arrival order does not matter). */
export function sampleClients(available: Iterable<string>, k: number, rng: () => number): string[] {
  const pool = [...available].sort();
  const n = Math.min(k, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n).sort();
}
