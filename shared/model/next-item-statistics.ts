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
  /** Adjacent pairs: b right after a. */
  transitions: 'stats/transitions',
  /** Pairs further apart within the window (distance 2…window), decayed: the loose order of ratings data. */
  transitionsWindow: 'stats/transitions-window',
  /**
   * Category of a → next item b, over the whole vocabulary [categoryVocab, itemVocab]: a smoother row for
   * items with few counts, and the only row for items outside the table.
   */
  categoryTransitions: 'stats/category-transitions',
  /**
   * Validation NDCG@10 sums (row 0) and log-likelihood sums (row 1) of each SCORERS entry, divided by the
   * client's weight: averaged like the counts, they become the whole federation's validation scores, and the
   * model scores with the best of those rather than an average of each client's noisy choice.
   */
  scorerValidation: 'stats/scorer-validation',
} as const;

/** Counting and scoring constants, tuned on MovieLens-layout development data (see docs/profile-quality.md). */
export const TRANSITION_SETTINGS = {
  /** A pair (a, b) at distance 2…window goes into the window table... */
  window: 5,
  /** ...with weight pairDecay^(distance - 1) (adjacent pairs, weight 1, into the adjacent table). */
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
/**
 * Candidate weights of the window table beside the adjacent one: 0 is a first-order chain (right when the next
 * event follows the last one), 1 counts every pair within the window at pairDecay^(distance − 1) (right for
 * ratings, where the order within a session is loose).
 */
export const WINDOW_WEIGHTS: readonly number[] = [0, 1];
/** Candidate shares of the last items' category rows in their item rows (0 = item rows only). */
export const CATEGORY_SHARES: readonly number[] = [0, 0.2];

/** One way to score the next item: how the statistics are read, and how much of them is mixed in. */
export interface Scorer { historyDecay: number; windowWeight: number; categoryShare: number; mix: number }

/** Every candidate, tried on validation; the validation scores in the weights follow this order. */
export const SCORERS: readonly Scorer[] = HISTORY_DECAYS.flatMap((historyDecay) => WINDOW_WEIGHTS.flatMap((windowWeight) =>
  CATEGORY_SHARES.flatMap((categoryShare) => MIX_GRID.map((mix) => ({ historyDecay, windowWeight, categoryShare, mix })))));

/** The statistics' own reading of a scorer: candidates that differ only in mix share one distribution. */
export type StatisticsReading = Omit<Scorer, 'mix'>;
export const READINGS: readonly StatisticsReading[] = HISTORY_DECAYS.flatMap((historyDecay) => WINDOW_WEIGHTS.flatMap((windowWeight) =>
  CATEGORY_SHARES.map((categoryShare) => ({ historyDecay, windowWeight, categoryShare }))));

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
  /** Adjacent pair counts over `index` × `index`, row-major, length n·n. */
  transitions: Float32Array;
  /** Decayed counts of pairs at distance 2…window over `index` × `index`. */
  transitionsWindow: Float32Array;
  /** Adjacent counts from the category of a to b, [categories, itemVocab] (empty without `categoryOf`). */
  categoryTransitions: Float32Array;
}

/** Where counting finds each item's category: item id -> category id (< 1 = unknown). */
export interface CategoryMap { categoryOf: Int32Array; categories: number }

/** Counts one client's item sequences (oldest first). Items outside [2, itemVocab) are skipped. */
export function countStatistics(sequences: Iterable<ArrayLike<number>>, itemVocab: number, index: Int32Array, n: number, categories?: CategoryMap): CountedStatistics {
  const popularity = new Float32Array(itemVocab);
  const transitions = new Float32Array(n * n);
  const transitionsWindow = new Float32Array(n * n);
  const C = categories?.categories ?? 0;
  const categoryTransitions = new Float32Array(C * itemVocab);
  const pos = positions(index, itemVocab);
  const { window, pairDecay } = TRANSITION_SETTINGS;
  const valid = (id: number): boolean => id >= FIRST_ITEM && id < itemVocab;
  for (const seq of sequences) {
    for (let i = 0; i < seq.length; i++) {
      const a = seq[i]!;
      if (!valid(a)) continue;
      popularity[a]! += 1;
      const c = categories?.categoryOf[a] ?? 0;
      const next = i + 1 < seq.length ? seq[i + 1]! : -1;
      if (c >= 1 && c < C && valid(next)) categoryTransitions[c * itemVocab + next]! += 1;
      const row = pos[a]!;
      if (row < 0) continue;
      let w = 1;
      for (let j = i + 1; j < seq.length && j <= i + window; j++, w *= pairDecay) {
        const b = seq[j]!;
        const col = valid(b) ? pos[b]! : -1;
        if (col >= 0) (j === i + 1 ? transitions : transitionsWindow)[row * n + col]! += w;
      }
    }
  }
  return { popularity, transitions, transitionsWindow, categoryTransitions };
}

export interface StatisticsWeights {
  popularity: Float32Array;
  indexPopularity: Float32Array;
  transitions: Float32Array;
  transitionsWindow: Float32Array;
  /** [categories, itemVocab]. */
  categoryTransitions: Float32Array;
}

/** The popularity whose ranking orders the table: the frozen index if set, else the pooled popularity. */
export function indexSource(w: Pick<StatisticsWeights, 'popularity' | 'indexPopularity'>): Float32Array | null {
  if (anyPositive(w.indexPopularity)) return w.indexPopularity;
  if (anyPositive(w.popularity)) return w.popularity;
  return null;
}

function rowSumsOf(table: Float32Array, rows: number, cols: number): Float64Array {
  const sums = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let t = 0;
    for (let c = 0; c < cols; c++) t += table[r * cols + c]!;
    sums[r] = t;
  }
  return sums;
}

/**
 * The statistics as a next-item distribution. Built once per model, then queried per user.
 */
export class NextItemStatistics {
  private readonly index: Int32Array;
  private readonly pos: Int32Array;
  private readonly adjacentSums: Float64Array;
  private readonly windowSums: Float64Array;
  private readonly categorySums: Float64Array;
  private readonly categories: number;
  private readonly popularity: Float64Array;

  private constructor(private readonly w: StatisticsWeights, private readonly n: number) {
    const V = w.popularity.length;
    this.index = rankedItems(indexSource(w) ?? new Float32Array(V), n);
    this.pos = positions(this.index, V);
    this.adjacentSums = rowSumsOf(w.transitions, n, n);
    this.windowSums = rowSumsOf(w.transitionsWindow, n, n);
    this.categories = w.categoryTransitions.length / V;
    this.categorySums = rowSumsOf(w.categoryTransitions, this.categories, V);
    let total = 0;
    for (let i = FIRST_ITEM; i < V; i++) total += Math.max(0, w.popularity[i]!);
    this.popularity = new Float64Array(V);
    // Without any counts, fall back to uniform so the distribution is still proper.
    for (let i = FIRST_ITEM; i < V; i++) this.popularity[i] = total > 0 ? Math.max(0, w.popularity[i]!) / total : 1 / (V - FIRST_ITEM);
  }

  /** null when the weights carry no counts yet (a fresh model). */
  static fromWeights(w: StatisticsWeights, n: number): NextItemStatistics | null {
    if (!anyPositive(w.popularity) && !anyPositive(w.indexPopularity)) return null;
    for (const [name, t] of [['transition', w.transitions], ['window transition', w.transitionsWindow]] as const) {
      if (t.length !== n * n) throw new RangeError(`${name} table has ${t.length} entries, expected ${n}² = ${n * n}`);
    }
    if (w.categoryTransitions.length % w.popularity.length !== 0) {
      throw new RangeError(`category transitions have ${w.categoryTransitions.length} entries, not a multiple of the ${w.popularity.length} items`);
    }
    return new NextItemStatistics(w, n);
  }

  /**
   * P(next = b | history) over the item vocabulary (ids 0 and 1 get 0): the rows of the most recent history
   * items (adjacent + windowWeight · window counts, then categoryShare of the item's category row),
   * recency-weighted and row-normalised, mixed with a little popularity; popularity alone when no recent
   * item has a row. `categoryOf` gives a history item's category (< 1 = unknown).
   */
  distribution(history: ArrayLike<number>, reading: StatisticsReading, categoryOf: (item: number) => number = () => 0): Float64Array {
    const V = this.popularity.length;
    const { historyItems, popularityShare } = TRANSITION_SETTINGS;
    const { historyDecay, windowWeight, categoryShare } = reading;
    const trans = new Float64Array(V);
    let used = 0;
    let weight = 1;
    for (let j = 0, i = history.length - 1; i >= 0 && j < historyItems; i--, j++, weight *= historyDecay) {
      const item = history[i]!;
      const row = item >= 0 && item < V ? this.pos[item]! : -1;
      const itemSum = row < 0 ? 0 : this.adjacentSums[row]! + windowWeight * this.windowSums[row]!;
      const c = categoryShare > 0 ? categoryOf(item) : 0;
      const categorySum = c >= 1 && c < this.categories ? this.categorySums[c]! : 0;
      const itemPart = itemSum > 0 ? (categorySum > 0 ? 1 - categoryShare : 1) : 0;
      const categoryPart = categorySum > 0 ? (itemSum > 0 ? categoryShare : 1) : 0;
      if (itemPart === 0 && categoryPart === 0) continue;
      if (itemPart > 0) {
        const scale = (weight * itemPart) / itemSum;
        const base = row * this.n;
        for (let col = 0; col < this.index.length; col++) {
          const v = this.w.transitions[base + col]! + windowWeight * this.w.transitionsWindow[base + col]!;
          if (v > 0) trans[this.index[col]!]! += v * scale;
        }
      }
      if (categoryPart > 0) {
        const scale = (weight * categoryPart) / categorySum;
        const base = c * V;
        for (let b = FIRST_ITEM; b < V; b++) {
          const v = this.w.categoryTransitions[base + b]!;
          if (v > 0) trans[b]! += v * scale;
        }
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
