import * as tf from '@tensorflow/tfjs';
import { bestScorer, NextItemStatistics, SCORERS, STATS_WEIGHTS, type Scorer, type StatisticsWeights } from './next-item-statistics.js';
import type { ProfileModel } from './profile-model.js';

/** The statistics a model carries, read out of its weights; null when its config has none. */
export interface ModelStatistics {
  /** Items covered by the transition table. */
  n: number;
  weights: StatisticsWeights;
  /** How recent items are pooled and how much of the statistics is mixed in, chosen on validation. */
  scorer: Scorer;
}

export interface ScorerValidation {
  /** Per SCORERS entry: validation NDCG@10 sum and log-likelihood sum, each already divided by the weight. */
  ndcg: Float64Array;
  logLikelihood: Float64Array;
}

export function readStatistics(model: ProfileModel): ModelStatistics | null {
  const n = model.config.transitionItems ?? 0;
  const pop = model.maybeWeight(STATS_WEIGHTS.popularity);
  const idx = model.maybeWeight(STATS_WEIGHTS.indexPopularity);
  const table = model.maybeWeight(STATS_WEIGHTS.transitions);
  const windowTable = model.maybeWeight(STATS_WEIGHTS.transitionsWindow);
  const categoryTable = model.maybeWeight(STATS_WEIGHTS.categoryTransitions);
  const scores = model.maybeWeight(STATS_WEIGHTS.scorerValidation);
  if (n === 0 || !pop || !idx || !table || !windowTable || !categoryTable || !scores) return null;
  return {
    n,
    weights: {
      popularity: pop.dataSync() as Float32Array,
      indexPopularity: idx.dataSync() as Float32Array,
      transitions: table.dataSync() as Float32Array,
      transitionsWindow: windowTable.dataSync() as Float32Array,
      categoryTransitions: categoryTable.dataSync() as Float32Array,
    },
    scorer: bestScorer(scores.dataSync() as Float32Array),
  };
}

/** Flat [ndcg..., logLikelihood...], the layout of the validation weight. */
export function flatValidation(v: ScorerValidation): Float32Array {
  const grid = new Float32Array(2 * SCORERS.length);
  grid.set(v.ndcg, 0);
  grid.set(v.logLikelihood, SCORERS.length);
  return grid;
}

export function writeStatistics(model: ProfileModel, w: StatisticsWeights, validation: ScorerValidation): void {
  const set = (name: string, values: Float32Array) => {
    const v = model.maybeWeight(name);
    if (!v) return;
    const t = tf.tensor(values, v.shape, 'float32');
    v.assign(t);
    t.dispose();
  };
  set(STATS_WEIGHTS.popularity, w.popularity);
  set(STATS_WEIGHTS.indexPopularity, w.indexPopularity);
  set(STATS_WEIGHTS.transitions, w.transitions);
  set(STATS_WEIGHTS.transitionsWindow, w.transitionsWindow);
  set(STATS_WEIGHTS.categoryTransitions, w.categoryTransitions);
  set(STATS_WEIGHTS.scorerValidation, flatValidation(validation));
}

export function statisticsOf(s: ModelStatistics | null): NextItemStatistics | null {
  return s === null ? null : NextItemStatistics.fromWeights(s.weights, s.n);
}
