import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import type { EncodedSequence, UserExample } from '../data/encoded.js';
import { ConfigError } from '../errors.js';
import { causalTargets, clozeMask, disposeBatch, toBatch, withNextMask } from '../model/batch.js';
import { isStatisticWeight } from '../model/next-item-statistics.js';
import { sampledNegatives, type SampledNegatives } from '../model/ops.js';
import type { ProfileModel } from '../model/profile-model.js';
import type { FitConfig } from './types.js';

/** The options of the training objective (a subset of TrainOptions, so workers can receive them). */
export interface ObjectiveOptions {
  phase: FitConfig['phase'];
  maskProb?: number;
  clozeWeightInFinetune?: number;
  trainOnly?: readonly string[];
  /**
   * Sampled softmax for the Cloze loss during training: each step scores the masked targets against this many
   * item ids drawn uniformly (shared by the batch, the same on every engine) instead of the whole vocabulary.
   * For catalogues beyond ~50k items; validation and evaluation still use the full softmax.
   */
  sampledNegatives?: number;
  /**
   * Also train the task the profile serves: each example's history with a MASK appended (as at inference)
   * must predict its first label item, in the same softmax as the Cloze positions. Default off.
   */
  nextItemObjective?: boolean;
  /** Causal models: share of positions (besides the latest) that predict their successor each step. Default 1. */
  causalTargetShare?: number;
}

/** One part of a batch split across `count` engines: rows [floor(B·index/count), floor(B·(index+1)/count)). */
export interface Shard { index: number; count: number }

/** Input tensors of one step, built outside the differentiated function and disposed after it. */
export interface StepInputs {
  /**
   * The objective on these inputs. For a shard it is the shard's share of the whole batch's objective (each
   * mean is taken over the whole batch), so the shards' losses and gradients sum to the batch's.
   */
  loss(training: boolean, dropoutSeed: number): tf.Scalar;
  /** false when the shard has nothing to learn from (no rows, or no real events): its gradient is zero. */
  readonly hasLoss: boolean;
  dispose(): void;
}

export function clozeWeightOf(opts: ObjectiveOptions): number {
  return opts.phase === 'pretrain' ? 1 : (opts.clozeWeightInFinetune ?? 0.5);
}

/**
 * The variables the phase's objective reaches. Passing exactly these (always in the same order) matters:
 * tfjs Adam keeps its moments by position in the gradient list, and variables without a gradient would be
 * moved to its end. Pretraining (Cloze) never reaches the profile heads; finetuning without the Cloze
 * auxiliary never reaches the item output bias. FedProx applies to the trained variables only (the others
 * stay exactly at the global weights anyway).
 */
export function trainableVariables(model: ProfileModel, opts: ObjectiveOptions): tf.Variable[] {
  const clozeWeight = clozeWeightOf(opts);
  const only = opts.trainOnly ? new Set(opts.trainOnly) : undefined;
  return model.weights
    .filter((w) => {
      if (only && !only.has(w.name)) return false;
      if (isStatisticWeight(w.name)) return false;
      if (w.name === 'head/item/bias') return clozeWeight > 0;
      if (w.name.startsWith('head/')) return opts.phase === 'finetune';
      return true;
    })
    .map((w) => w.variable);
}

/** A 32-bit seed from (seed, stream, counter) so each step gets its own dropout and mask draws. */
export function derivedSeed(seed: number, stream: number, counter: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (stream + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (counter + 0x165667b1), 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Each example's first label item when it is a real item id, else 0 (no next-item target). */
function nextItemTargets(examples: readonly UserExample[], itemVocab: number): Int32Array {
  return Int32Array.from(examples.map((e) => {
    const t = e.labels.nextItems[0];
    return t !== undefined && t >= 2 && t < itemVocab ? t : 0;
  }));
}

/** Adds position b·L + L−1 (the appended MASK) with its next item, keeping positions in increasing order. */
function withNextTargets(positions: Int32Array, targets: Int32Array, next: Int32Array, L: number): { positions: Int32Array; targets: Int32Array } {
  const pairs: [number, number][] = [];
  positions.forEach((p, i) => pairs.push([p, targets[i]!]));
  next.forEach((t, b) => { if (t >= 2) pairs.push([b * L + L - 1, t]); });
  pairs.sort((a, b) => a[0] - b[0]);
  return { positions: Int32Array.from(pairs, (p) => p[0]), targets: Int32Array.from(pairs, (p) => p[1]) };
}

function concatRows(rows: readonly Float32Array[]): Float32Array {
  const width = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
}

/**
 * One objective for training and validation: Cloze for 'pretrain'; heads (+ weighted Cloze) for 'finetune'.
 * Every input tensor is created here, outside optimizer.minimize: tensors made inside the differentiated
 * function are disposed before the backward pass, and custom gradients may still need them.
 * With a shard, the Cloze masks are still drawn over the whole batch (the same draws whatever the split), and
 * only the shard's rows are turned into tensors.
 */
export function stepInputs(
  model: ProfileModel, examples: readonly UserExample[], opts: ObjectiveOptions, maskSeed: string, shard?: Shard,
): StepInputs {
  const cfg = model.config;
  const B = examples.length;
  const lo = shard === undefined ? 0 : Math.floor((B * shard.index) / shard.count);
  const hi = shard === undefined ? B : Math.floor((B * (shard.index + 1)) / shard.count);
  const rows = shard === undefined ? examples : examples.slice(lo, hi);
  const seqs: EncodedSequence[] = examples.map((e) => e.input);
  const owned: tf.Tensor[] = [];
  const batches: ReturnType<typeof toBatch>[] = [];
  let cloze: ((training: boolean, dropoutSeed: number) => tf.Scalar) | undefined;
  let clozeShare = 1;
  const clozeWeight = clozeWeightOf(opts);
  if (clozeWeight > 0) {
    const next = opts.nextItemObjective || cfg.causal ? nextItemTargets(examples, cfg.itemVocab) : undefined;
    let batchInputs: EncodedSequence[];
    let merged: { positions: Int32Array; targets: Int32Array };
    if (cfg.causal) {
      // Every real position predicts its successor; no input is masked.
      batchInputs = seqs;
      merged = causalTargets(seqs, next, opts.causalTargetShare ?? 1, seedrandom(maskSeed));
    } else {
      const inputs = next ? seqs.map((s, b) => (next[b]! >= 2 ? withNextMask(s, cfg) : s)) : seqs;
      const masked = clozeMask(inputs, opts.maskProb ?? 0.2, seedrandom(maskSeed));
      batchInputs = masked.inputs;
      merged = next ? withNextTargets(masked.positions, masked.targets, next, cfg.maxLen) : masked;
    }
    let { positions, targets } = merged;
    if (shard !== undefined && merged.positions.length > 0) {
      const L = cfg.maxLen;
      const keep: number[] = [];
      merged.positions.forEach((p, i) => { if (p >= lo * L && p < hi * L) keep.push(i); });
      positions = Int32Array.from(keep, (i) => merged.positions[i]! - lo * L);
      targets = Int32Array.from(keep, (i) => merged.targets[i]!);
      clozeShare = positions.length / merged.positions.length;
    }
    const sampled = opts.sampledNegatives;
    let negatives: SampledNegatives | undefined;
    if (sampled !== undefined && positions.length > 0) {
      // Drawn from the step's seed, so every engine of a data-parallel step scores the same negatives.
      const rng = seedrandom(`${maskSeed}/negatives`);
      const ids = Int32Array.from({ length: sampled }, () => 2 + Math.floor(rng() * (cfg.itemVocab - 2)));
      negatives = sampledNegatives(targets, ids);
      owned.push(negatives.ids, negatives.hitMask);
    }
    if (positions.length > 0) {
      const batch = toBatch(shard === undefined ? batchInputs : batchInputs.slice(lo, hi), cfg);
      batches.push(batch);
      const pos = tf.tensor1d(positions, 'int32');
      const tgt = tf.tensor1d(targets, 'int32');
      owned.push(pos, tgt);
      cloze = (training, seed) => model.clozeLoss(batch, pos, tgt, training, seed, training ? negatives : undefined);
    }
  }
  let heads: ((training: boolean, dropoutSeed: number) => tf.Scalar) | undefined;
  const headsShare = B === 0 ? 0 : rows.length / B;
  if (opts.phase === 'finetune' && rows.length > 0) {
    const batch = toBatch(rows.map((e) => e.input), cfg);
    batches.push(batch);
    const labels = {
      purchased: tf.tensor1d(rows.map((e) => e.labels.purchased), 'float32'),
      interests: tf.tensor2d(concatRows(rows.map((e) => e.labels.interests)), [rows.length, cfg.categoryVocab]),
      tier: tf.tensor1d(rows.map((e) => e.labels.tier), 'int32'),
    };
    owned.push(labels.purchased, labels.interests, labels.tier);
    heads = (training, seed) => model.finetuneLoss(batch, labels, training, seed);
  }
  return {
    hasLoss: heads !== undefined || cloze !== undefined,
    loss(training, dropoutSeed) {
      const parts: tf.Scalar[] = [];
      if (heads) {
        const h = heads(training, dropoutSeed);
        parts.push(shard === undefined ? h : tf.mul(h, headsShare));
      }
      // A different dropout stream for the Cloze pass, so its masks are not the heads pass's masks.
      if (cloze) parts.push(tf.mul(cloze(training, derivedSeed(dropoutSeed, 2, 0)), clozeWeight * clozeShare));
      if (parts.length === 0) throw new ConfigError('training: the batch has no real events to learn from');
      return (parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
    },
    dispose() {
      batches.forEach(disposeBatch);
      tf.dispose(owned);
    },
  };
}
