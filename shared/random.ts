import seedrandom from 'seedrandom';
import { randomGamma, randomLogNormal } from 'd3-random';

/**
 * The project's one source of seeded randomness: uniform streams, the shuffle, and the draws the simulator's
 * data generator and partitioners need (normal, gamma, Dirichlet, ...). Everything here is a pure function of
 * its seed, identical on every platform, so runs and rounds repeat bit for bit.
 */

/** A seeded uniform source in [0, 1). */
export type Uniform = () => number;

/** A uniform integer in [0, bound). */
export type RandomIndex = (bound: number) => number;

/** A stream keyed by a string (seedrandom's ARC4): one key per purpose keeps streams independent. */
export function seededUniform(key: string): Uniform {
  return seedrandom(key);
}

/** Alea: faster than ARC4, for the millions of draws of the synthetic data generator. */
export function fastUniform(seed: number | string): Uniform {
  return seedrandom.alea(String(seed));
}

/**
 * The round engine's random streams: a pure function of (federation seed, round, purpose), so the
 * coordinator and the simulator select the same clients and hand them the same local seeds, whatever the
 * host or the order clients connected in. Selection itself is sampleIds (shared/aggregation/sampling.ts).
 */
export function roundRng(seed: number, round: number, purpose: 'fit' | 'evaluate' | string): Uniform {
  return seededUniform(`fedprofile:${seed}:${round}:${purpose}`);
}

export function indexFrom(uniform: Uniform): RandomIndex {
  return (bound) => Math.floor(uniform() * bound);
}

/** Fisher–Yates from the end: one draw per position, index(i + 1) for position i. Returns `xs`. */
export function shuffleInPlace<T>(xs: T[], source: Uniform | { index: RandomIndex }): T[] {
  const index = typeof source === 'function' ? indexFrom(source) : source.index;
  for (let i = xs.length - 1; i > 0; i--) {
    const j = index(i + 1);
    if (!Number.isInteger(j) || j < 0 || j > i) throw new RangeError(`random index for bound ${i + 1} was ${j}, outside [0, ${i}]`);
    const t = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = t;
  }
  return xs;
}

/** 0..n-1 in a seeded order: the same key always gives the same permutation. */
export function seededPermutation(n: number, key: string): number[] {
  return shuffleInPlace(Array.from({ length: n }, (_, i) => i), seededUniform(key));
}

/** Standard normal by Box–Muller (one draw per call keeps the stream simple to reason about). */
export function normal(rng: Uniform): number {
  let u = rng();
  while (u <= Number.EPSILON) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the boost Gamma(a+1)·U^(1/a). */
export function gamma(rng: Uniform, shape: number): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0 (got ${shape})`);
  if (shape < 1) {
    let u = rng();
    while (u <= Number.EPSILON) u = rng();
    return gamma(rng, shape + 1) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Gamma(shape, 1) sampler over a uniform stream. */
export type GammaSampler = (shape: number) => number;

/**
 * d3-random's Gamma (with the same boost below shape 1) and LogNormal over `rng`: the client partitioner's
 * draws since its first release. Its splits, and so every published experiment number, depend on this
 * exact stream; the data generator uses `gamma` above.
 */
export function partitionSamplers(rng: Uniform): { gamma: GammaSampler; logNormal: (sigma: number) => number } {
  const gammaOf = randomGamma.source(rng);
  const logNormalOf = randomLogNormal.source(rng);
  return {
    gamma: (k) => (k >= 1 ? gammaOf(k)() : gammaOf(k + 1)() * Math.pow(rng() || Number.MIN_VALUE, 1 / k)),
    logNormal: (sigma) => (sigma === 0 ? 1 : logNormalOf(0, sigma)()),
  };
}

/**
 * Dirichlet(alphas) as normalised gamma draws; a zero alpha gives a zero share (and takes no draw). When
 * every draw underflows (tiny alphas), one component is picked with probability proportional to its alpha.
 */
export function dirichlet(rng: Uniform, alphas: readonly number[], gammaOf: GammaSampler = (a) => gamma(rng, a)): number[] {
  const g = alphas.map((a) => (a > 0 ? gammaOf(a) : 0));
  const sum = g.reduce((s, x) => s + x, 0);
  if (sum > 0) return g.map((x) => x / sum);
  const total = alphas.reduce((s, x) => s + x, 0);
  let u = rng() * total;
  const out = alphas.map(() => 0);
  for (let i = 0; i < alphas.length; i++) {
    u -= alphas[i]!;
    if (u < 0 || i === alphas.length - 1) { out[i] = 1; break; }
  }
  return out;
}

export function exponential(rng: Uniform, mean: number): number {
  return -Math.log(1 - rng()) * mean;
}

/** Poisson by inversion for small means, normal approximation above 50 (only used for session counts). */
export function poisson(rng: Uniform, mean: number): number {
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(rng)));
  const l = Math.exp(-mean);
  let k = 0;
  let p = rng();
  while (p > l) {
    k++;
    p *= rng();
  }
  return k;
}

/** Cumulative distribution of non-negative weights, for O(log n) categorical draws. */
export function cdf(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let s = 0;
  for (let i = 0; i < weights.length; i++) {
    s += weights[i]!;
    out[i] = s;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= s;
  return out;
}

export function drawIndex(rng: Uniform, c: Float64Array): number {
  const u = rng();
  let lo = 0;
  let hi = c.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (c[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
