/**
 * Pure ranking and classification metrics. No tensors here: evaluation turns model outputs into plain arrays
 * first, so every number below can be checked by hand in a unit test.
 */

/** Anything indexable by number with a length (number[], Float32Array, ...). */
export type Scores = ArrayLike<number>;

/**
 * 0-based rank of `target` among `candidates` (or all indices in [from, scores.length) when none are given).
 * Ties count against the target (pessimistic), so a model that outputs a constant gets no free hits.
 */
export function rankOf(scores: Scores, target: number, candidates?: ArrayLike<number>, from = 0, exclude?: ReadonlySet<number>): number {
  const t = scores[target];
  if (t === undefined || Number.isNaN(t)) return Number.POSITIVE_INFINITY;
  let rank = 0;
  if (candidates) {
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i];
      if (c !== target && scores[c] >= t) rank++;
    }
  } else {
    for (let i = from; i < scores.length; i++) if (i !== target && scores[i] >= t && !exclude?.has(i)) rank++;
  }
  return rank;
}

/**
 * `count` distinct negative ids drawn in proportion to `weights` (e.g. training popularity) over [from,
 * weights.length), never the target nor an id in `exclude` (the user's history). Items of weight 0 are never
 * drawn; fewer are returned when fewer are available.
 */
export function samplePopularNegatives(
  target: number, weights: ArrayLike<number>, count: number, rand: () => number, from = 2, exclude?: ReadonlySet<number>,
): Int32Array {
  const ids: number[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (let i = from; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w > 0) || i === target || exclude?.has(i)) continue;
    total += w;
    ids.push(i);
    cumulative.push(total);
  }
  const n = Math.min(count, ids.length);
  const chosen = new Set<number>();
  // Rejection of repeats stays cheap while n is small against the pool; past half, take the rest in order.
  let attempts = 0;
  while (chosen.size < n && attempts < 50 * n) {
    attempts++;
    const x = rand() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > x) hi = mid; else lo = mid + 1;
    }
    chosen.add(ids[lo]!);
  }
  for (let i = 0; chosen.size < n && i < ids.length; i++) chosen.add(ids[i]!);
  return Int32Array.from(chosen);
}

/** Hit rate at K for one 0-based rank. */
export function hitAtK(rank: number, k: number): number {
  return rank < k ? 1 : 0;
}

/** NDCG at K for one relevant item at a 0-based rank (the ideal DCG is 1). */
export function ndcgAtK(rank: number, k: number): number {
  return rank < k ? 1 / Math.log2(rank + 2) : 0;
}

/**
 * `count` distinct negative item ids drawn uniformly from [from, vocab) without `target`, using `rand` (a
 * seeded [0,1) source). Uniform rather than popularity-weighted sampling, the common reading of "100 sampled
 * negatives"; it is the easier protocol, which is why the full ranking is reported too.
 */
export function sampleNegatives(target: number, vocab: number, count: number, rand: () => number, from = 2): Int32Array {
  const pool = vocab - from - (target >= from && target < vocab ? 1 : 0);
  const n = Math.min(count, Math.max(0, pool));
  const out = new Int32Array(n);
  const seen = new Set<number>();
  let i = 0;
  while (i < n) {
    const c = from + Math.floor(rand() * (vocab - from));
    if (c === target || seen.has(c)) continue;
    seen.add(c);
    out[i++] = c;
  }
  return out;
}

/**
 * ROC AUC by the Mann-Whitney statistic with average ranks, so tied scores count one half.
 * NaN when only one class is present (AUC is undefined there; callers drop or report it as such).
 */
export function rocAuc(scores: Scores, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`rocAuc: ${n} scores but ${labels.length} labels`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0;
  let pos = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j) / 2 + 1; // 1-based average rank of the tie group
    for (let m = i; m <= j; m++) if (labels[order[m]] > 0.5) { rankSumPos += avgRank; pos++; }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Indices of the K largest scores in [from, length); ties go to the lower index, so the result is stable. */
export function topK(scores: Scores, k: number, from = 0, exclude?: ReadonlySet<number>): number[] {
  const idx: number[] = [];
  for (let i = from; i < scores.length; i++) if (!exclude?.has(i) && !Number.isNaN(scores[i])) idx.push(i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, k);
}

/**
 * Precision at K of a ranking against a relevant set, with the denominator capped at the set size
 * (hits / min(K, |relevant|)), so a perfect ranking scores 1 even for users with fewer than K true interests.
 * NaN for an empty relevant set (nothing to find; callers skip such users).
 */
export function precisionAtK(ranked: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return Number.NaN;
  let hits = 0;
  for (let i = 0; i < Math.min(k, ranked.length); i++) if (relevant.has(ranked[i])) hits++;
  return hits / Math.min(k, relevant.size);
}

/** Index of the largest value (first on ties). */
export function argmax(values: Scores): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Share of equal entries. */
export function accuracy(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  if (predicted.length !== actual.length) throw new RangeError('accuracy: length mismatch');
  if (predicted.length === 0) return Number.NaN;
  let ok = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === actual[i]) ok++;
  return ok / predicted.length;
}

/** Mean ignoring NaN; NaN when nothing is left. */
export function nanMean(values: readonly number[]): number {
  let s = 0;
  let n = 0;
  for (const v of values) if (!Number.isNaN(v)) { s += v; n++; }
  return n === 0 ? Number.NaN : s / n;
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Softmax of a small vector, max-shifted for stability. */
export function softmax(logits: Scores): number[] {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Log-softmax value at one index of a (possibly large) logit row, computed without allocating. */
export function logSoftmaxAt(logits: Scores, index: number, from = 0): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = from; i < logits.length; i++) if (logits[i] > m) m = logits[i];
  let s = 0;
  for (let i = from; i < logits.length; i++) s += Math.exp(logits[i] - m);
  return logits[index] - m - Math.log(s);
}
