import * as tf from '@tensorflow/tfjs';
import { bestMix, MIX_GRID, NextItemStatistics, STATS_WEIGHTS, type StatisticsWeights } from './next-item-statistics.js';
import type { ProfileModel } from './profile-model.js';

/** The statistics a model carries, read out of its weights; null when its config has none. */
export interface ModelStatistics {
  /** Items covered by the transition table. */
  n: number;
  weights: StatisticsWeights;
  /** Share of the statistics in the fused next-item distribution, chosen on validation. */
  mix: number;
}

export interface MixValidation {
  /** Per MIX_GRID entry: validation NDCG@10 sum and log-likelihood sum, each already divided by the weight. */
  ndcg: Float64Array;
  logLikelihood: Float64Array;
}

export function readStatistics(model: ProfileModel): ModelStatistics | null {
  const n = model.config.transitionItems ?? 0;
  const pop = model.maybeWeight(STATS_WEIGHTS.popularity);
  const idx = model.maybeWeight(STATS_WEIGHTS.indexPopularity);
  const table = model.maybeWeight(STATS_WEIGHTS.transitions);
  const mix = model.maybeWeight(STATS_WEIGHTS.mixValidation);
  if (n === 0 || !pop || !idx || !table || !mix) return null;
  return {
    n,
    weights: {
      popularity: pop.dataSync() as Float32Array,
      indexPopularity: idx.dataSync() as Float32Array,
      transitions: table.dataSync() as Float32Array,
    },
    mix: bestMix(mix.dataSync() as Float32Array),
  };
}

export function writeStatistics(model: ProfileModel, w: StatisticsWeights, mix: MixValidation): void {
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
  const grid = new Float32Array(2 * MIX_GRID.length);
  grid.set(mix.ndcg, 0);
  grid.set(mix.logLikelihood, MIX_GRID.length);
  set(STATS_WEIGHTS.mixValidation, grid);
}

export function statisticsOf(s: ModelStatistics | null): NextItemStatistics | null {
  return s === null ? null : NextItemStatistics.fromWeights(s.weights, s.n);
}
