/**
 * Item-to-item transition statistics carried in the model's `stats/*` weights and fused with the learned
 * next-item scores.
 *
 * Why statistics at all: on sparse real ratings a learned sequence model alone stays far below a first-order
 * Markov chain (SASRec reaches ~0.024 NDCG@10 on ml-latest-small, Markov ~0.053), so the next-item scorer
 * mixes the model's distribution with transition counts and picks the mix on validation.
 *
 * Why they federate exactly: each client puts its own counts divided by its FedAvg weight into the
 * `stats/*` slots, so the weighted mean FedAvg computes (in plain mode or under SecAgg) is the pooled count
 * divided by the total weight: the statistics of all merchants together, without any merchant's counts in
 * clear under SecAgg. The table is dense over the N most popular items (N = `transitionItems`), whose order
 * is fixed by `stats/index-popularity`: set once (the pooled popularity of the first round) and from then
 * on sent unchanged, i.e. as a zero delta, which FedAvg and the SecAgg quantiser both keep exact.
 */
export const STATISTICS_PREFIX = 'stats/';
export const STATS_WEIGHTS = {
  popularity: 'stats/popularity',
  indexPopularity: 'stats/index-popularity',
  transitions: 'stats/transitions',
  /**
   * Validation NDCG@10 sums (row 0) and log-likelihood sums (row 1) of each SCORERS entry, divided by the
   * client's weight: averaged like the counts, they become the whole federation's validation scores, and the
   * model scores with the best of those rather than an average of each client's noisy choice.
   */
  scorerValidation: 'stats/scorer-validation',
} as const;

/** Counting and scoring constants, tuned on MovieLens-layout development data (see docs/profile-quality.md). */
export const TRANSITION_SETTINGS = {
  /** A pair (a, b) is counted when b follows a within this many item events... */
  window: 5,
  /** ...with weight pairDecay^(distance - 1). */
  pairDecay: 0.5,
  /** The scorer looks at this many most recent history items, the j-th weighted historyDecay^j (a SCORERS choice). */
  historyItems: 5,
  /** Share of popularity mixed into the statistics distribution, so every item keeps some mass. */
  popularityShare: 0.05,
} as const;

/**
 * Counts go into the weights as count / (weight · COUNT_UNITS): any constant keeps the federated mean equal to
 * the pooled counts up to scale (rows and popularity are normalised), and this one keeps a popular item's
 * share far inside a SecAgg+ clip of 0.5 even when a client has many events per example.
 */
export const COUNT_UNITS = 64;

/** Candidate mixes of the statistics into the model's distribution, tried on validation. */
export const MIX_GRID: readonly number[] = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
/**
 * Candidate history decays: 0 reads only the latest item's row (first-order, right when the next event
 * follows the last one, as with view -> cart -> purchase), larger values pool the recent items' rows (right
 * for ratings, where the order within a session is loose).
 */
export const HISTORY_DECAYS: readonly number[] = [0, 0.3, 0.6];

/** One way to score the next item: how recent items are pooled, and how much of the statistics is mixed in. */
export interface Scorer { historyDecay: number; mix: number }

/** Every candidate, tried on validation; the validation scores in the weights follow this order. */
export const SCORERS: readonly Scorer[] = HISTORY_DECAYS.flatMap((historyDecay) => MIX_GRID.map((mix) => ({ historyDecay, mix })));

/** The scorer with the best validation NDCG@10; ties (common on few users) go to the better log-likelihood. */
export function bestScorer(validation: ArrayLike<number>): Scorer {
  const G = SCORERS.length;
  let best = -1;
  for (let m = 0; m < G; m++) {
    const ndcg = validation[m]!;
    const ll = validation[G + m]!;
    if (!Number.isFinite(ndcg) || !Number.isFinite(ll)) continue;
    if (best < 0 || ndcg > validation[best]! + 1e-12 || (Math.abs(ndcg - validation[best]!) <= 1e-12 && ll > validation[G + best]!)) best = m;
  }
  return SCORERS[Math.max(0, best)]!;
}

export const isStatisticWeight = (name: string): boolean => name.startsWith(STATISTICS_PREFIX);

const FIRST_ITEM = 2;

function anyPositive(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (v[i]! > 0) return true;
  return false;
}

/** Up to n item ids by decreasing value (ties: lower id first), only ids >= 2 with a positive value. */
export function rankedItems(popularity: ArrayLike<number>, n: number): Int32Array {
  const ids: number[] = [];
  for (let i = FIRST_ITEM; i < popularity.length; i++) if (popularity[i]! > 0) ids.push(i);
  ids.sort((a, b) => popularity[b]! - popularity[a]! || a - b);
  return Int32Array.from(ids.slice(0, n));
}

function positions(index: Int32Array, itemVocab: number): Int32Array {
  const pos = new Int32Array(itemVocab).fill(-1);
  index.forEach((id, p) => { pos[id] = p; });
  return pos;
}

export interface CountedStatistics {
  /** Item counts, length itemVocab. */
  popularity: Float32Array;
  /** Windowed, decayed pair counts over `index` × `index`, row-major, length n·n. */
  transitions: Float32Array;
}

/** Counts one client's item sequences (oldest first). Items outside [2, itemVocab) are skipped. */
export function countStatistics(sequences: Iterable<ArrayLike<number>>, itemVocab: number, index: Int32Array, n: number): CountedStatistics {
  const popularity = new Float32Array(itemVocab);
  const transitions = new Float32Array(n * n);
  const pos = positions(index, itemVocab);
  const { window, pairDecay } = TRANSITION_SETTINGS;
  const valid = (id: number): boolean => id >= FIRST_ITEM && id < itemVocab;
  for (const seq of sequences) {
    for (let i = 0; i < seq.length; i++) {
      const a = seq[i]!;
      if (!valid(a)) continue;
      popularity[a]! += 1;
      const row = pos[a]!;
      if (row < 0) continue;
      let w = 1;
      for (let j = i + 1; j < seq.length && j <= i + window; j++, w *= pairDecay) {
        const b = seq[j]!;
        const col = valid(b) ? pos[b]! : -1;
        if (col >= 0) transitions[row * n + col]! += w;
      }
    }
  }
  return { popularity, transitions };
}

export interface StatisticsWeights {
  popularity: Float32Array;
  indexPopularity: Float32Array;
  transitions: Float32Array;
}

/** The popularity whose ranking orders the table: the frozen index if set, else the pooled popularity. */
export function indexSource(w: Pick<StatisticsWeights, 'popularity' | 'indexPopularity'>): Float32Array | null {
  if (anyPositive(w.indexPopularity)) return w.indexPopularity;
  if (anyPositive(w.popularity)) return w.popularity;
  return null;
}

/**
 * The statistics as a next-item distribution. Built once per model, then queried per user.
 */
export class NextItemStatistics {
  private readonly index: Int32Array;
  private readonly pos: Int32Array;
  private readonly rowSums: Float64Array;
  private readonly popularity: Float64Array;

  private constructor(private readonly w: StatisticsWeights, private readonly n: number) {
    const V = w.popularity.length;
    this.index = rankedItems(indexSource(w) ?? new Float32Array(V), n);
    this.pos = positions(this.index, V);
    this.rowSums = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += w.transitions[r * n + c]!;
      this.rowSums[r] = s;
    }
    let total = 0;
    for (let i = FIRST_ITEM; i < V; i++) total += Math.max(0, w.popularity[i]!);
    this.popularity = new Float64Array(V);
    // Without any counts, fall back to uniform so the distribution is still proper.
    for (let i = FIRST_ITEM; i < V; i++) this.popularity[i] = total > 0 ? Math.max(0, w.popularity[i]!) / total : 1 / (V - FIRST_ITEM);
  }

  /** null when the weights carry no counts yet (a fresh model). */
  static fromWeights(w: StatisticsWeights, n: number): NextItemStatistics | null {
    if (!anyPositive(w.popularity) && !anyPositive(w.indexPopularity)) return null;
    if (w.transitions.length !== n * n) throw new RangeError(`transition table has ${w.transitions.length} entries, expected ${n}² = ${n * n}`);
    return new NextItemStatistics(w, n);
  }

  /**
   * P(next = b | history) over the item vocabulary (ids 0 and 1 get 0): the rows of the most recent history
   * items, recency-weighted and row-normalised, mixed with a little popularity; popularity alone when no
   * recent item has a row.
   */
  distribution(history: ArrayLike<number>, historyDecay: number): Float64Array {
    const V = this.popularity.length;
    const { historyItems, popularityShare } = TRANSITION_SETTINGS;
    const trans = new Float64Array(V);
    let used = 0;
    let weight = 1;
    for (let j = 0, i = history.length - 1; i >= 0 && j < historyItems; i--, j++, weight *= historyDecay) {
      const item = history[i]!;
      const row = item >= 0 && item < V ? this.pos[item]! : -1;
      if (row < 0 || !(this.rowSums[row]! > 0)) continue;
      const scale = weight / this.rowSums[row]!;
      const base = row * this.n;
      for (let c = 0; c < this.index.length; c++) {
        const v = this.w.transitions[base + c]!;
        if (v > 0) trans[this.index[c]!]! += v * scale;
      }
      used += weight;
    }
    const out = new Float64Array(V);
    const keep = used > 0 ? 1 - popularityShare : 0;
    for (let b = FIRST_ITEM; b < V; b++) out[b] = keep * (used > 0 ? trans[b]! / used : 0) + (1 - keep) * this.popularity[b]!;
    return out;
  }
}

/** Softmax of logits over ids >= 2, as probabilities (ids 0 and 1 get 0). */
export function softmaxItems(logits: ArrayLike<number>): Float64Array {
  const V = logits.length;
  let max = -Infinity;
  for (let i = FIRST_ITEM; i < V; i++) if (logits[i]! > max) max = logits[i]!;
  const out = new Float64Array(V);
  let sum = 0;
  for (let i = FIRST_ITEM; i < V; i++) sum += (out[i] = Math.exp(logits[i]! - max));
  for (let i = FIRST_ITEM; i < V; i++) out[i]! /= sum;
  return out;
}

/**
 * log((1 - mix)·P_model + mix·P_stats): a proper next-item distribution, so it is both a ranking and a
 * log-likelihood. mix = 0 ranks exactly like the model's logits.
 */
export function fusedLogScores(modelProbs: Float64Array, stats: Float64Array | null, mix: number): Float32Array {
  const V = modelProbs.length;
  const out = new Float32Array(V);
  out[0] = -Infinity;
  if (V > 1) out[1] = -Infinity;
  const m = stats === null ? 0 : Math.min(1, Math.max(0, mix));
  for (let i = FIRST_ITEM; i < V; i++) out[i] = Math.log((1 - m) * modelProbs[i]! + (stats === null ? 0 : m * stats[i]!) + 1e-30);
  return out;
}
