import type { UserExample } from '../data/encoded.js';
import { ACTIONS } from '../data/events.js';
import { argmax } from './metrics.js';
import { MetricAccumulator, type EvaluationMetrics, type ScoringOptions } from './scoring.js';

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
