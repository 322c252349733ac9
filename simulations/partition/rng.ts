import seedrandom from 'seedrandom';
import { randomGamma, randomLogNormal } from 'd3-random';

/** A seeded uniform source in [0, 1) with the few draws the partitioners need. */
export interface Rng {
  next(): number;
  int(n: number): number;
  gamma(shape: number): number;
  logNormal(sigma: number): number;
}

export function createRng(seed: number, stream: string): Rng {
  const source = seedrandom(`${seed}:${stream}`);
  const next = () => source();
  const gammaOf = randomGamma.source(next);
  const logNormalOf = randomLogNormal.source(next);
  return {
    next,
    int: (n) => Math.floor(next() * n),
    // d3's gamma has a bad tail for tiny shapes; Dir(alpha*p) with small alpha needs them, so boost:
    // Gamma(k) = Gamma(k + 1) * U^(1/k) (Marsaglia & Tsang).
    gamma: (k) => (k >= 1 ? gammaOf(k)() : gammaOf(k + 1)() * Math.pow(next() || Number.MIN_VALUE, 1 / k)),
    logNormal: (sigma) => (sigma === 0 ? 1 : logNormalOf(0, sigma)()),
  };
}

export function shuffleInPlace<T>(xs: T[], rng: Rng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = t;
  }
  return xs;
}

export function dirichlet(concentration: readonly number[], rng: Rng): number[] {
  const g = concentration.map((a) => (a > 0 ? rng.gamma(a) : 0));
  const sum = g.reduce((s, x) => s + x, 0);
  // All draws can underflow to 0 for very small alpha: fall back to one category picked by the prior.
  if (!(sum > 0)) {
    const total = concentration.reduce((s, x) => s + x, 0);
    let u = rng.next() * total;
    const out = concentration.map(() => 0);
    for (let i = 0; i < concentration.length; i++) {
      u -= concentration[i]!;
      if (u < 0 || i === concentration.length - 1) { out[i] = 1; break; }
    }
    return out;
  }
  return g.map((x) => x / sum);
}
