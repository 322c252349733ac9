import seedrandom from 'seedrandom';

/** A seeded uniform [0, 1) source. Alea: fast, and identical output for a seed on every platform. */
export type Rng = () => number;

export function makeRng(seed: number | string): Rng {
  return seedrandom.alea(String(seed));
}

/** Standard normal by Box–Muller (one draw per call keeps the stream simple to reason about). */
export function normal(rng: Rng): number {
  let u = rng();
  while (u <= Number.EPSILON) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the boost Gamma(a+1)·U^(1/a). */
export function gamma(rng: Rng, shape: number): number {
  if (shape <= 0) throw new RangeError(`gamma shape must be > 0 (got ${shape})`);
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

/** Dirichlet(alphas) as normalised gamma draws. */
export function dirichlet(rng: Rng, alphas: readonly number[]): number[] {
  const g = alphas.map((a) => gamma(rng, a));
  let sum = g.reduce((s, x) => s + x, 0);
  if (sum <= 0) {
    // All draws underflowed (tiny alphas): fall back to a one-hot on a uniformly chosen component.
    g.fill(0);
    g[Math.floor(rng() * g.length)] = 1;
    sum = 1;
  }
  return g.map((x) => x / sum);
}

export function exponential(rng: Rng, mean: number): number {
  return -Math.log(1 - rng()) * mean;
}

/** Poisson by inversion for small means, normal approximation above 50 (only used for session counts). */
export function poisson(rng: Rng, mean: number): number {
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
    s += weights[i];
    out[i] = s;
  }
  for (let i = 0; i < out.length; i++) out[i] /= s;
  return out;
}

export function drawIndex(rng: Rng, c: Float64Array): number {
  const u = rng();
  let lo = 0;
  let hi = c.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (c[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
