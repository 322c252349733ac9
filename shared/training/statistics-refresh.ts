import type { UserExample } from '../data/encoded.js';
import {
  bestScorer, COUNT_UNITS, countStatistics, indexSource, MIX_GRID, NextItemStatistics, rankedItems, READINGS, SCORERS,
  type CategoryMap, type Scorer, type StatisticsWeights,
} from '../model/next-item-statistics.js';
import type { ProfileModel } from '../model/profile-model.js';
import { flatValidation, readStatistics, writeStatistics, type ScorerValidation } from '../model/statistics-weights.js';
import { fusedLogScores } from '../model/next-item-statistics.js';
import { categoryLookup, forEachNextItemDistribution, historyIds } from './evaluate.js';
import { ndcgAtK, rankOf } from './metrics.js';
import { historySet } from './scoring.js';
import { refreshHeadGate } from './head-gate-refresh.js';

/**
 * Each user's longest known training sequence (history, then its label items), once per user: sliding
 * prefixes of one user overlap, so counting every example would count the same transitions again.
 */
export function userSequences(examples: readonly UserExample[]): Int32Array[] {
  const longest = new Map<string, Int32Array>();
  for (const ex of examples) {
    const history = ex.history ?? ex.input.item.filter((id) => id >= 2);
    const seq = new Int32Array(history.length + ex.labels.nextItems.length);
    seq.set(history, 0);
    seq.set(ex.labels.nextItems, history.length);
    const prev = longest.get(ex.userKey);
    if (!prev || seq.length > prev.length) longest.set(ex.userKey, seq);
  }
  return [...longest.values()];
}

/** Each item's category as the client's encoded windows show it (the latest example seen wins). */
export function itemCategories(examples: readonly UserExample[], itemVocab: number, categories: number): CategoryMap {
  const categoryOf = new Int32Array(itemVocab);
  for (const ex of examples) {
    const { item, category } = ex.input;
    for (let l = 0; l < item.length; l++) {
      const id = item[l]!;
      if (id >= 2 && id < itemVocab && category[l]! < categories) categoryOf[id] = category[l]!;
    }
  }
  return { categoryOf, categories };
}

/**
 * Each candidate scorer's validation NDCG@10 and log-likelihood sums, ranked as evaluation ranks (the history
 * excluded only under leave-one-out), divided by `weight` so that FedAvg turns them into the federation's sums
 * (see STATS_WEIGHTS.scorerValidation).
 */
function scoreScorers(model: ProfileModel, validation: readonly UserExample[], stats: NextItemStatistics, weight: number, excludeHistory: boolean): ScorerValidation {
  const V = model.config.itemVocab;
  const ndcg = new Float64Array(SCORERS.length);
  const logLikelihood = new Float64Array(SCORERS.length);
  const scored = validation.filter((ex) => { const t = ex.labels.nextItems[0]; return t !== undefined && t >= 2 && t < V; });
  forEachNextItemDistribution(model, scored, 64, (ex, _i, probs) => {
    const target = ex.labels.nextItems[0]!;
    // Scored exactly as evaluation will rank: with the history left out only under that protocol (on data where
    // the next event often repeats a recent item, leaving it out would favour the wrong scorer).
    const exclude = excludeHistory ? historySet(ex) : undefined;
    exclude?.delete(target);
    const history = historyIds(ex);
    const categoryOf = categoryLookup(ex);
    READINGS.forEach((reading, r) => {
      const statistics = stats.distribution(history, reading, categoryOf);
      MIX_GRID.forEach((mix, m) => {
        const fused = fusedLogScores(probs, statistics, mix);
        const k = r * MIX_GRID.length + m;
        ndcg[k]! += ndcgAtK(rankOf(fused, target, undefined, 2, exclude), 10) / weight;
        logLikelihood[k]! += fused[target]! / weight;
      });
    });
  });
  return { ndcg, logLikelihood };
}

export interface StatisticsRefresh {
  /** The scorer this client's own validation favours (the model uses the federation's, once averaged). */
  scorer: Scorer;
  sequences: number;
  tableItems: number;
}

/**
 * Puts this client's own statistics into the model's `stats/*` weights, divided by `weight` (the FedAvg weight
 * the client reports), so the federation's weighted mean is the pooled count over the total weight. The
 * transition table is ordered by the received index popularity; a fresh federation has none, so the first
 * round orders by this client's own popularity and sends it as the index, whose weighted mean across clients is
 * the pooled popularity. From then on the index goes back unchanged (a zero delta) and stays fixed.
 */
const anyTransitions = (t: Float32Array): boolean => t.some((v) => v > 0);

export function refreshStatistics(
  model: ProfileModel, train: readonly UserExample[], validation: readonly UserExample[], weight: number,
  opts: { excludeHistory?: boolean } = {},
): StatisticsRefresh | null {
  const received = readStatistics(model);
  if (received === null || weight <= 0) return null;
  const V = model.config.itemVocab;
  const { n } = received;
  const sequences = userSequences(train);
  const own = countStatistics(sequences, V, new Int32Array(0), 0).popularity;
  const unit = weight * COUNT_UNITS;
  const ownShare = own.map((c) => c / unit);
  const index = indexSource(received.weights) ?? ownShare;
  const order = rankedItems(index, n);
  const counted = countStatistics(sequences, V, order, n, itemCategories(train, V, model.config.categoryVocab));
  const next: StatisticsWeights = {
    popularity: ownShare,
    indexPopularity: index === received.weights.indexPopularity ? received.weights.indexPopularity.slice() : Float32Array.from(index),
    transitions: counted.transitions.map((c) => c / unit),
    transitionsWindow: counted.transitionsWindow.map((c) => c / unit),
    categoryTransitions: counted.categoryTransitions.map((c) => c / unit),
  };
  // Mixes are scored with the federation's statistics when there are any (what evaluation will use), else
  // with this client's own.
  const stats = NextItemStatistics.fromWeights(anyTransitions(received.weights.transitions) ? received.weights : next, n);
  const scores = stats ? scoreScorers(model, validation, stats, unit, opts.excludeHistory === true) : { ndcg: new Float64Array(SCORERS.length), logLikelihood: new Float64Array(SCORERS.length) };
  writeStatistics(model, next, scores);
  refreshHeadGate(model, validation, unit);
  return { scorer: bestScorer(flatValidation(scores)), sequences: sequences.length, tableItems: order.length };
}
