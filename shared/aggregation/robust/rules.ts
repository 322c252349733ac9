import { FedProfileError } from '../../errors.js';

/*
 * Byzantine-robust aggregation rules for plain (unmasked) mode. Each needs every individual update, which
 * SecAgg exists to hide: with SecAgg on only norm bounding applies, and then only through the clients' own
 * clipping (see config.ts). Median, trimmed mean and multi-Krum ignore example-count weights on purpose: a
 * weight is a claim the attacker controls too.
 */

function checkUpdates(updates: readonly Float32Array[]): number {
  if (updates.length === 0) throw new FedProfileError('QUORUM', 'cannot aggregate zero updates');
  const m = updates[0]!.length;
  updates.forEach((u, i) => {
    if (u.length !== m) throw new FedProfileError('BAD_INPUT', `update #${i} has ${u.length} values, expected ${m}`);
  });
  return m;
}

/** Coordinate-wise median (Yin et al. 2018); the mean of the two middle values for an even count. */
export function coordinateMedian(updates: readonly Float32Array[]): Float32Array {
  const m = checkUpdates(updates);
  const n = updates.length;
  const out = new Float32Array(m);
  const column = new Float64Array(n);
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) column[i] = updates[i]![j]!;
    column.sort();
    out[j] = n % 2 === 1 ? column[(n - 1) / 2]! : (column[n / 2 - 1]! + column[n / 2]!) / 2;
  }
  return out;
}

/** Number of values trimmed from each end for a trim fraction β: ⌊β·n⌋, leaving at least one value. */
export function trimCount(n: number, trimFraction: number): number {
  if (!(trimFraction >= 0 && trimFraction < 0.5)) throw new FedProfileError('BAD_CONFIG', `trimFraction must be in [0, 0.5), got ${trimFraction}`);
  return Math.min(Math.floor(trimFraction * n), Math.floor((n - 1) / 2));
}

/** Coordinate-wise β-trimmed mean (Yin et al. 2018): drop the ⌊βn⌋ largest and smallest values, average the rest. */
export function trimmedMean(updates: readonly Float32Array[], trimFraction: number): Float32Array {
  const m = checkUpdates(updates);
  const n = updates.length;
  const k = trimCount(n, trimFraction);
  const out = new Float32Array(m);
  const column = new Float64Array(n);
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) column[i] = updates[i]![j]!;
    column.sort();
    let s = 0;
    for (let i = k; i < n - k; i++) s += column[i]!;
    out[j] = s / (n - 2 * k);
  }
  return out;
}

function squaredDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s;
}

/**
 * Multi-Krum (Blanchard et al. 2017): score each update by the summed squared distance to its n − f − 2
 * nearest neighbours, keep the `select` lowest-scoring ones and average them. Needs n > 2f + 2.
 */
export function multiKrum(updates: readonly Float32Array[], byzantine: number, select: number): { mean: Float32Array; selected: number[]; scores: number[] } {
  const m = checkUpdates(updates);
  const n = updates.length;
  if (!Number.isInteger(byzantine) || byzantine < 0) throw new FedProfileError('BAD_CONFIG', `byzantine must be an integer ≥ 0, got ${byzantine}`);
  if (n <= 2 * byzantine + 2) {
    throw new FedProfileError('QUORUM', `multi-Krum with f = ${byzantine} needs more than 2f + 2 = ${2 * byzantine + 2} updates, got ${n}`);
  }
  if (!Number.isInteger(select) || select < 1 || select > n) throw new FedProfileError('BAD_CONFIG', `select must be an integer in [1, ${n}], got ${select}`);
  const dist = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = squaredDistance(updates[i]!, updates[j]!);
      dist[i]![j] = d;
      dist[j]![i] = d;
    }
  }
  const neighbours = n - byzantine - 2;
  const scores = dist.map((row, i) => {
    const others = [...row].filter((_, j) => j !== i).sort((a, b) => a - b);
    return others.slice(0, neighbours).reduce((s, x) => s + x, 0);
  });
  // Ties break by index so the choice is deterministic.
  const selected = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).slice(0, select).map(([, i]) => i).sort((a, b) => a - b);
  const sum = new Float64Array(m);
  for (const i of selected) {
    const u = updates[i]!;
    for (let j = 0; j < m; j++) sum[j]! += u[j]!;
  }
  const mean = new Float32Array(m);
  for (let j = 0; j < m; j++) mean[j] = sum[j]! / selected.length;
  return { mean, selected, scores };
}

/**
 * Norm bounding (Sun et al. 2019, "Can you really backdoor federated learning?"): scale every update down to
 * L2 norm ≤ maxNorm, then take the weighted mean. Returns how many were scaled.
 */
export function normBoundedMean(updates: readonly Float32Array[], weights: readonly number[], maxNorm: number): { mean: Float32Array; clipped: number } {
  const m = checkUpdates(updates);
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new FedProfileError('BAD_CONFIG', `maxNorm must be finite and > 0, got ${maxNorm}`);
  if (weights.length !== updates.length) throw new FedProfileError('BAD_INPUT', `${weights.length} weights for ${updates.length} updates`);
  const sum = new Float64Array(m);
  let total = 0;
  let clipped = 0;
  updates.forEach((u, i) => {
    const w = weights[i]!;
    if (!(w > 0) || !Number.isFinite(w)) throw new FedProfileError('BAD_INPUT', `update #${i} has weight ${w}; weights must be finite and > 0`);
    let n2 = 0;
    for (let j = 0; j < m; j++) n2 += u[j]! * u[j]!;
    const norm = Math.sqrt(n2);
    const scale = norm > maxNorm ? maxNorm / norm : 1;
    if (scale < 1) clipped++;
    for (let j = 0; j < m; j++) sum[j]! += w * scale * u[j]!;
    total += w;
  });
  const mean = new Float32Array(m);
  for (let j = 0; j < m; j++) mean[j] = sum[j]! / total;
  return { mean, clipped };
}
