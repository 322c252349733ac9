import * as tf from '@tensorflow/tfjs';
import type { UserExample } from '../data/encoded.js';
import { FedProfileError } from '../errors.js';
import { disposeBatch, toBatch, withNextMask } from '../model/batch.js';
import type { ProfileModel } from '../model/profile-model.js';
import { argmax } from './metrics.js';
import { MetricAccumulator, type EvaluationMetrics } from './scoring.js';

export type { EvaluationMetrics } from './scoring.js';

export interface EvaluateOptions {
  k?: number;
  seed: number;
  batchSize?: number;
  /** Ground-truth interest sets by userKey; defaults to each example's label interests. */
  interestTruth?: ReadonlyMap<string, ReadonlySet<number>>;
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
  const L = cfg.maxLen;
  const B = examples.length;
  const nextBatch = toBatch(examples.map((e) => withNextMask(e.input, cfg)), cfg);
  const batch = toBatch(examples.map((e) => e.input), cfg);
  try {
    const [next, prop, interests, tier] = tf.tidy(() => {
      const hNext = model.encode(nextBatch, false);
      const last = tf.reshape(tf.slice(hNext, [0, L - 1, 0], [B, 1, cfg.dModel]), [B, cfg.dModel]) as tf.Tensor2D;
      const heads = model.profileHeads(batch, false).logits;
      return [model.itemLogits(last), tf.sigmoid(heads.propensity), heads.interests, heads.tier];
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
  const acc = new MetricAccumulator({ k: opts.k ?? 10, seed: opts.seed, itemVocab: cfg.itemVocab, interestTruth: opts.interestTruth });
  const bs = opts.batchSize ?? 64;
  const V = cfg.itemVocab;
  const C = cfg.categoryVocab;
  const T = cfg.numTiers;
  for (let start = 0; start < examples.length; start += bs) {
    const chunk = examples.slice(start, start + bs);
    const out = predictBatch(model, chunk);
    chunk.forEach((ex, b) => {
      acc.add(start + b, ex, {
        itemScores: out.nextLogits.subarray(b * V, (b + 1) * V),
        itemScoresAreLogits: true,
        propensity: out.propensity[b],
        interestScores: out.interests.subarray(b * C, (b + 1) * C),
        tier: argmax(out.tier.subarray(b * T, (b + 1) * T)),
      });
    });
  }
  return acc.result();
}
