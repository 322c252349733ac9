/**
 * Log-space arithmetic for the RDP accountant: its terms span hundreds of orders of magnitude
 * (exp((α² − α)/2σ²) at α = 256, σ = 0.5 is e^65000), so they are kept as logarithms throughout.
 */

/** log(e^a + e^b). */
export function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** log(e^a − e^b) for a ≥ b. */
export function logSub(a: number, b: number): number {
  if (a < b) throw new RangeError('logSub: the result would be negative');
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  const d = a - b;
  // For large d, expm1 overflows long after the answer stopped depending on b.
  return d > 700 ? a : Math.log(Math.expm1(d)) + b;
}

/** Sign and log-magnitude of e^a − e^b. */
export function logSubSigned(a: number, b: number): { positive: boolean; log: number } {
  if (a > b) return { positive: true, log: a + Math.log1p(-Math.exp(b - a)) };
  if (a < b) return { positive: false, log: b + Math.log1p(-Math.exp(a - b)) };
  return { positive: true, log: -Infinity };
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** log C(n, k) for 0 ≤ k ≤ n (n may be fractional). */
export function logBinomial(n: number, k: number): number {
  if (k === 0 || k === n) return 0;
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * log erfc(x), accurate in the far tail where erfc underflows. Below 2: the all-positive series
 * erf(x) = 2/√π · e^{−x²} Σ 2ⁿ x^{2n+1} / (2n+1)!! (no cancellation). From 2 on: the continued fraction
 * erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up in log form.
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 2) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    const erf = (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
    return Math.log1p(-erf);
  }
  let tail = x;
  for (let n = 120; n >= 1; n--) tail = x + n / 2 / tail;
  return -x * x - 0.5 * Math.log(Math.PI) - Math.log(tail);
}
