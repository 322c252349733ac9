import * as tf from '@tensorflow/tfjs';
import type { UserExample } from '../data/encoded.js';
import { FedProfileError } from '../errors.js';
import { disposeBatch, toBatch, nextItemInput } from '../model/batch.js';
import type { ProfileModel } from '../model/profile-model.js';
import { fusedLogScores, softmaxItems, type NextItemStatistics, type Scorer } from '../model/next-item-statistics.js';
import { readStatistics, statisticsOf } from '../model/statistics-weights.js';
import { argmax } from './metrics.js';
import { MetricAccumulator, type EvaluationMetrics } from './scoring.js';

export type { EvaluationMetrics } from './scoring.js';

export interface EvaluateOptions {
  k?: number;
  seed: number;
  batchSize?: number;
  /** Ground-truth interest sets by userKey; defaults to each example's label interests. */
  interestTruth?: ReadonlyMap<string, ReadonlySet<number>>;
  /** Leave each user's history items out of the next-item ranking (leave-one-out protocol). */
  excludeHistory?: boolean;
  /** Draw the 100 sampled negatives by these weights (training popularity) instead of uniformly. */
  negativeWeights?: ArrayLike<number>;
}

/** The item ids behind an example, oldest first: its full history when known, else the encoded window. */
export function historyIds(example: UserExample): ArrayLike<number> {
  if (example.history) return example.history;
  const out: number[] = [];
  for (const id of example.input.item) if (id >= 2) out.push(id);
  return out;
}

/**
 * The category of each item in the example's encoded window (the latest occurrence wins): what the statistics'
 * category rows are read with. Items older than the window have none (< 1), which only the oldest of the few
 * history items the statistics look at can be.
 */
export function categoryLookup(example: UserExample): (item: number) => number {
  const of = new Map<number, number>();
  const { item, category } = example.input;
  for (let l = 0; l < item.length; l++) if (item[l]! >= 2) of.set(item[l]!, category[l]!);
  return (id) => of.get(id) ?? 0;
}

/**
 * Calls `fn` with the model's next-item distribution (softmax over ids >= 2) for each example, batch by batch,
 * so a large evaluation set never holds every distribution at once.
 */
export function forEachNextItemDistribution(
  model: ProfileModel, examples: readonly UserExample[], batchSize: number,
  fn: (example: UserExample, index: number, probs: Float64Array) => void,
): void {
  const cfg = model.config;
  const V = cfg.itemVocab;
  for (let start = 0; start < examples.length; start += batchSize) {
    const chunk = examples.slice(start, start + batchSize);
    const nextBatch = toBatch(chunk.map((e) => nextItemInput(e.input, cfg)), cfg);
    try {
      const logits = tf.tidy(() => model.nextItemLogits(nextBatch));
      const values = logits.dataSync() as Float32Array;
      logits.dispose();
      chunk.forEach((ex, b) => fn(ex, start + b, softmaxItems(values.subarray(b * V, (b + 1) * V))));
    } finally {
      disposeBatch(nextBatch);
    }
  }
}

/** The fused next-item log-scores of one example, or the model's own when the model carries no statistics. */
export function fusedScores(probs: Float64Array, example: UserExample, stats: NextItemStatistics | null, scorer: Scorer): {
  fused: Float32Array; statistics: Float64Array | null;
} {
  const statistics = stats?.distribution(historyIds(example), scorer, categoryLookup(example)) ?? null;
  return { fused: fusedLogScores(probs, statistics, scorer.mix), statistics };
}

interface BatchOutputs {
  nextLogits: Float32Array; // [B, V]
  propensity: Float32Array; // [B] probabilities
  interests: Float32Array; // [B, C] logits (ranking only)
  tier: Float32Array; // [B, T] logits
}

/** Runs the model on one batch of examples, outside any training graph. */
function predictBatch(model: ProfileModel, examples: readonly UserExample[]): BatchOutputs {
  const cfg = model.config;
  const nextBatch = toBatch(examples.map((e) => nextItemInput(e.input, cfg)), cfg);
  const batch = toBatch(examples.map((e) => e.input), cfg);
  try {
    const [next, prop, interests, tier] = tf.tidy(() => {
      const heads = model.profileHeads(batch, false).logits;
      return [model.nextItemLogits(nextBatch), tf.sigmoid(heads.propensity), heads.interests, heads.tier];
    });
    const out = {
      nextLogits: next.dataSync() as Float32Array,
      propensity: prop.dataSync() as Float32Array,
      interests: interests.dataSync() as Float32Array,
      tier: tier.dataSync() as Float32Array,
    };
    tf.dispose([next, prop, interests, tier]);
    return out;
  } finally {
    disposeBatch(nextBatch);
    disposeBatch(batch);
  }
}

/**
 * Model metrics on held-out examples: next item (HR@K / NDCG@K over the full catalogue and against 100
 * seeded negatives, predicted from a MASK appended to the history, as in BERT4Rec), propensity AUC,
 * interest precision@3, tier accuracy, and the next-item cross-entropy as `loss`.
 * The keys match evaluateBaselines so the two can be printed side by side.
 */
export function evaluateModel(model: ProfileModel, examples: readonly UserExample[], opts: EvaluateOptions): EvaluationMetrics {
  const cfg = model.config;
  if (examples.length === 0) throw new FedProfileError('BAD_INPUT', 'evaluateModel: no examples to evaluate');
  const acc = new MetricAccumulator({
    k: opts.k ?? 10, seed: opts.seed, itemVocab: cfg.itemVocab, interestTruth: opts.interestTruth,
    ...(opts.excludeHistory ? { excludeHistory: true } : {}), ...(opts.negativeWeights ? { negativeWeights: opts.negativeWeights } : {}),
  });
  const bs = opts.batchSize ?? 64;
  const V = cfg.itemVocab;
  const C = cfg.categoryVocab;
  const T = cfg.numTiers;
  const carried = readStatistics(model);
  const stats = statisticsOf(carried);
  for (let start = 0; start < examples.length; start += bs) {
    const chunk = examples.slice(start, start + bs);
    const out = predictBatch(model, chunk);
    chunk.forEach((ex, b) => {
      const logits = out.nextLogits.subarray(b * V, (b + 1) * V);
      const common = {
        propensity: out.propensity[b]!,
        interestScores: out.interests.subarray(b * C, (b + 1) * C),
        tier: argmax(out.tier.subarray(b * T, (b + 1) * T)),
      };
      if (stats === null) {
        acc.add(start + b, ex, { ...common, itemScores: logits, itemScoresAreLogits: true });
        return;
      }
      const probs = softmaxItems(logits);
      const { fused, statistics } = fusedScores(probs, ex, stats, carried!.scorer);
      const target = ex.labels.nextItems[0];
      acc.add(start + b, ex, {
        ...common,
        itemScores: fused,
        itemScoresAreLogits: false,
        ...(target !== undefined && target >= 2 && target < V ? { nextItemLogProb: fused[target]! } : {}),
        itemScoreParts: { model: logits, statistics: statistics! },
      });
    });
  }
  return acc.result();
}
