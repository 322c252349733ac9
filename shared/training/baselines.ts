import type { UserExample } from '../data/encoded.js';
import { ACTIONS } from '../data/events.js';
import { historyIds } from './evaluate.js';
import { argmax } from './metrics.js';
import { MetricAccumulator, type EvaluationMetrics, type ScoringOptions } from './scoring.js';
import { userSequences } from './statistics-refresh.js';

const PURCHASE_ACTION = ACTIONS.indexOf('purchase') + 1;

/** Item counts over the training users' input sequences and label windows (never the evaluated users'). */
export function itemPopularity(train: readonly UserExample[], itemVocab: number): Float64Array {
  const counts = new Float64Array(itemVocab);
  for (const ex of train) {
    const { item } = ex.input;
    for (let i = 0; i < item.length; i++) if (item[i] >= 2 && item[i] < itemVocab) counts[item[i]]++;
    for (const it of ex.labels.nextItems) if (it >= 2 && it < itemVocab) counts[it]++;
  }
  return counts;
}

/**
 * Categories ranked by how recently the user touched them: the most recent category scores highest, the
 * next distinct one below it, and so on; untouched categories score 0.
 */
export function recentCategoryScores(ex: UserExample, categoryVocab: number): Float64Array {
  const scores = new Float64Array(categoryVocab);
  const { category } = ex.input;
  let next = category.length;
  for (let i = category.length - 1; i >= 0; i--) {
    const c = category[i];
    if (c > 0 && c < categoryVocab && scores[c] === 0) scores[c] = next--;
  }
  return scores;
}

/** Share of the user's events that are purchases: a recent-purchase-rate heuristic for propensity. */
export function purchaseRate(ex: UserExample): number {
  const { action, length } = ex.input;
  if (length === 0) return 0;
  let p = 0;
  for (let i = 0; i < action.length; i++) if (action[i] === PURCHASE_ACTION) p++;
  return p / length;
}

export function majorityTier(train: readonly UserExample[], numTiers: number): number {
  const counts = new Array<number>(numTiers).fill(0);
  for (const ex of train) if (ex.labels.tier >= 0 && ex.labels.tier < numTiers) counts[ex.labels.tier]++;
  return argmax(counts);
}

export interface BaselineOptions extends Omit<ScoringOptions, 'itemVocab'> {
  itemVocab: number;
  categoryVocab: number;
  numTiers: number;
}

/**
 * Non-learned baselines on the same examples and the same sampled negatives as the model:
 * popularity for next item (loss = cross-entropy of the add-one-smoothed popularity distribution),
 * most-recent-category for interests, the recent purchase rate for propensity AUC (a constant base rate
 * would score exactly 0.5), and the majority tier of the training users.
 */
export function evaluateBaselines(
  train: readonly UserExample[],
  test: readonly UserExample[],
  opts: BaselineOptions,
): EvaluationMetrics {
  const pop = itemPopularity(train, opts.itemVocab);
  let total = 0;
  for (let i = 2; i < pop.length; i++) total += pop[i] + 1;
  const tier = majorityTier(train, opts.numTiers);
  const acc = new MetricAccumulator(opts);
  test.forEach((ex, i) => {
    const target = ex.labels.nextItems[0];
    acc.add(i, ex, {
      itemScores: pop,
      itemScoresAreLogits: false,
      nextItemLogProb: target !== undefined && target >= 2 && target < pop.length
        ? Math.log((pop[target] + 1) / total) : undefined,
      propensity: purchaseRate(ex),
      interestScores: recentCategoryScores(ex, opts.categoryVocab),
      tier,
    });
  });
  return acc.result();
}

/** The one-line rules every profile field is compared with, by name. */
export type BaselineName = 'popularity' | 'markov' | 'mostRecentCategory' | 'purchaseRate' | 'majorityTier';

/** Each rule's metrics on the fields it predicts; null where the data cannot measure the metric. */
export type NamedBaselines = Record<BaselineName, Record<string, number | null>>;

const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** First-order item -> next item counts over each training user's sequence (once per user). */
export function firstOrderTransitions(train: readonly UserExample[]): Map<number, Map<number, number>> {
  const successors = new Map<number, Map<number, number>>();
  for (const seq of userSequences(train)) {
    for (let i = 0; i + 1 < seq.length; i++) {
      const a = seq[i]!;
      const b = seq[i + 1]!;
      if (a < 2 || b < 2) continue;
      const row = successors.get(a) ?? new Map<number, number>();
      row.set(b, (row.get(b) ?? 0) + 1);
      successors.set(a, row);
    }
  }
  return successors;
}

/**
 * Every rule on the same test examples, negatives and exclusions as the model: popularity and first-order
 * Markov (the most frequent successors of the user's last item, backing off to popularity) for the next
 * item, most-recent-category for interests, purchase rate for propensity, majority tier for the tier.
 */
export function evaluateNamedBaselines(
  train: readonly UserExample[], test: readonly UserExample[],
  opts: BaselineOptions & { excludeHistory?: boolean; negativeWeights?: ArrayLike<number> },
): NamedBaselines {
  const V = opts.itemVocab;
  const pop = itemPopularity(train, V);
  let maxPop = 1;
  for (let i = 2; i < V; i++) maxPop = Math.max(maxPop, pop[i]!);
  const successors = firstOrderTransitions(train);
  const combined = evaluateBaselines(train, test, opts);
  const markov = new MetricAccumulator(opts);
  const popularity = new MetricAccumulator(opts);
  const noHeads = { propensity: 0, interestScores: new Float64Array(opts.categoryVocab), tier: 0 };
  test.forEach((ex, i) => {
    popularity.add(i, ex, { ...noHeads, itemScores: pop, itemScoresAreLogits: false });
    const history = historyIds(ex);
    const row = history.length > 0 ? successors.get(history[history.length - 1]!) : undefined;
    const scores = new Float64Array(V);
    // Popularity below one count breaks ties among successors and ranks everything else.
    for (let b = 2; b < V; b++) scores[b] = pop[b]! / (maxPop + 1);
    row?.forEach((count, b) => { if (b < V) scores[b]! += count; });
    markov.add(i, ex, { ...noHeads, itemScores: scores, itemScoresAreLogits: false });
  });
  const items = (m: EvaluationMetrics): Record<string, number | null> => ({
    ndcg10: orNull(m.ndcg10), hr10: orNull(m.hr10), ndcg10Sampled: orNull(m.ndcg10Sampled), hr10Sampled: orNull(m.hr10Sampled),
  });
  return {
    popularity: items(popularity.result()),
    markov: items(markov.result()),
    mostRecentCategory: { interestP3: orNull(combined.interestP3) },
    purchaseRate: { auc: orNull(combined.auc) },
    majorityTier: { tierAcc: orNull(combined.tierAcc) },
  };
}
