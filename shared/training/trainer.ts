import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import type { EncodedSequence, UserExample } from '../data/encoded.js';
import { ConfigError } from '../errors.js';
import { causalTargets, clozeMask, disposeBatch, toBatch, withNextMask } from '../model/batch.js';
import { isStatisticWeight } from '../model/next-item-statistics.js';
import type { ProfileModel } from '../model/profile-model.js';
import { createOptimizerStep } from '../model/train-step.js';
import type { FitConfig, TrainingProgress } from './types.js';

export interface TrainOptions extends FitConfig {
  /** Epochs without a validation-loss improvement before stopping (best weights are restored). */
  earlyStoppingPatience?: number;
  /** Share of real events masked for the Cloze task. Default 0.2 (BERT4Rec's ML-1m value). */
  maskProb?: number;
  /**
   * Also train the task the profile serves: each example's history with a MASK appended (as at inference)
   * must predict its first label item, in the same softmax as the Cloze positions. Default off.
   */
  nextItemObjective?: boolean;
  /** Causal models: share of positions (besides the latest) that predict their successor each step. Default 1. */
  causalTargetShare?: number;
  /** Weight of the Cloze auxiliary loss during 'finetune', so next-item ranking keeps improving. Default 0.5. */
  clozeWeightInFinetune?: number;
  /**
   * FedProx anchor (the global weights the round started from), in model.weights order. Defaults to a copy
   * of the model's weights at the start of training. Not disposed by the trainer.
   */
  proximalAnchor?: readonly tf.Tensor[];
  /**
   * Adam runs as one fused kernel per variable (default). false = tf.train.adam with the same
   * hyper-parameters (0.9, 0.999, eps 1e-8), for comparisons.
   */
  fusedAdam?: boolean;
}

export interface TrainExamples {
  train: readonly UserExample[];
  validation?: readonly UserExample[];
}

export interface TrainResult {
  metrics: Record<string, number>;
  numExamples: number;
  stepsRun: number;
}

/** A 32-bit seed from (seed, stream, counter) so each step gets its own dropout and mask draws. */
export function derivedSeed(seed: number, stream: number, counter: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (stream + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (counter + 0x165667b1), 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fisher-Yates with a seeded stream; the same seed always yields the same order. */
export function seededPermutation(n: number, seed: string): number[] {
  const rand = seedrandom(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

/**
 * The variables the phase's objective reaches. Passing exactly these (always in the same order) matters:
 * tfjs Adam keeps its moments by position in the gradient list, and variables without a gradient would be
 * moved to its end. Pretraining (Cloze) never reaches the profile heads; finetuning without the Cloze
 * auxiliary never reaches the item output bias. FedProx applies to the trained variables only (the others
 * stay exactly at the global weights anyway).
 */
function trainableVariables(model: ProfileModel, opts: TrainOptions): tf.Variable[] {
  const clozeWeight = opts.phase === 'pretrain' ? 1 : (opts.clozeWeightInFinetune ?? 0.5);
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

function validate(opts: TrainOptions, numTrain: number): void {
  const bad = (msg: string) => { throw new ConfigError(`training: ${msg}`); };
  if (!Number.isInteger(opts.localEpochs) || opts.localEpochs < 1) bad(`localEpochs must be an integer >= 1 (got ${opts.localEpochs})`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) bad(`batchSize must be an integer >= 1 (got ${opts.batchSize})`);
  if (!(opts.learningRate > 0) || !Number.isFinite(opts.learningRate)) bad(`learningRate must be a positive number (got ${opts.learningRate})`);
  if (opts.optimizer !== 'adam' && opts.optimizer !== 'sgd') bad(`optimizer must be 'adam' or 'sgd' (got ${String(opts.optimizer)})`);
  if (opts.phase !== 'pretrain' && opts.phase !== 'finetune') bad(`phase must be 'pretrain' or 'finetune' (got ${String(opts.phase)})`);
  if (opts.proximalMu !== undefined && !(opts.proximalMu >= 0)) bad(`proximalMu must be >= 0 (got ${opts.proximalMu})`);
  const p = opts.maskProb ?? 0.2;
  if (!(p > 0 && p < 1)) bad(`maskProb must be in (0, 1) (got ${p})`);
  if (numTrain === 0) bad('no training examples');
}

/** Input tensors of one step, built outside the differentiated function and disposed after it. */
interface StepInputs {
  loss(training: boolean, dropoutSeed: number): tf.Scalar;
  dispose(): void;
}

/**
 * One objective for training and validation: Cloze for 'pretrain'; heads (+ weighted Cloze) for 'finetune'.
 * Every input tensor is created here, outside optimizer.minimize: tensors made inside the differentiated
 * function are disposed before the backward pass, and custom gradients may still need them.
 */
function stepInputs(
  model: ProfileModel, examples: readonly UserExample[], opts: TrainOptions, maskSeed: string,
): StepInputs {
  const cfg = model.config;
  const seqs: EncodedSequence[] = examples.map((e) => e.input);
  const owned: tf.Tensor[] = [];
  const batches: ReturnType<typeof toBatch>[] = [];
  let cloze: ((training: boolean, dropoutSeed: number) => tf.Scalar) | undefined;
  const clozeWeight = opts.phase === 'pretrain' ? 1 : (opts.clozeWeightInFinetune ?? 0.5);
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
    if (merged.positions.length > 0) {
      const batch = toBatch(batchInputs, cfg);
      batches.push(batch);
      const positions = tf.tensor1d(merged.positions, 'int32');
      const targets = tf.tensor1d(merged.targets, 'int32');
      owned.push(positions, targets);
      cloze = (training, seed) => model.clozeLoss(batch, positions, targets, training, seed);
    }
  }
  let heads: ((training: boolean, dropoutSeed: number) => tf.Scalar) | undefined;
  if (opts.phase === 'finetune') {
    const batch = toBatch(seqs, cfg);
    batches.push(batch);
    const labels = {
      purchased: tf.tensor1d(examples.map((e) => e.labels.purchased), 'float32'),
      interests: tf.tensor2d(concatRows(examples.map((e) => e.labels.interests)), [examples.length, cfg.categoryVocab]),
      tier: tf.tensor1d(examples.map((e) => e.labels.tier), 'int32'),
    };
    owned.push(labels.purchased, labels.interests, labels.tier);
    heads = (training, seed) => model.finetuneLoss(batch, labels, training, seed);
  }
  return {
    loss(training, dropoutSeed) {
      const parts: tf.Scalar[] = [];
      if (heads) parts.push(heads(training, dropoutSeed));
      // A different dropout stream for the Cloze pass, so its masks are not the heads pass's masks.
      if (cloze) parts.push(tf.mul(cloze(training, derivedSeed(dropoutSeed, 2, 0)), clozeWeight));
      if (parts.length === 0) throw new ConfigError('training: the batch has no real events to learn from');
      return (parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
    },
    dispose() {
      batches.forEach(disposeBatch);
      tf.dispose(owned);
    },
  };
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

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The training objective (without the FedProx term) on held-out examples, with fixed Cloze masks derived from
 * opts.seed and no dropout, so values from different epochs are comparable.
 */
export function validationLoss(model: ProfileModel, examples: readonly UserExample[], opts: TrainOptions): number {
  let sum = 0;
  let n = 0;
  chunks(examples, opts.batchSize).forEach((batch, b) => {
    const inputs = stepInputs(model, batch, opts, `${opts.seed}/valmask/${b}`);
    try {
      const loss = tf.tidy(() => inputs.loss(false, 0));
      sum += (loss.dataSync()[0] as number) * batch.length;
      n += batch.length;
      loss.dispose();
    } finally {
      inputs.dispose();
    }
  });
  return sum / n;
}

/**
 * Trains `model` in place on the examples and returns the metrics. Everything random (shuffles, masks,
 * dropout) is derived from opts.seed and the step, so equal inputs give bit-identical weights on one backend.
 * The model's variables end up holding the best weights (by validation loss when validation is given).
 */
export function trainLocal(
  model: ProfileModel,
  examples: TrainExamples,
  opts: TrainOptions,
  onProgress?: (p: TrainingProgress) => void,
): TrainResult {
  const used = opts.maxExamples !== undefined && opts.maxExamples < examples.train.length
    ? seededPermutation(examples.train.length, `${opts.seed}/subset`).slice(0, opts.maxExamples).map((i) => examples.train[i])
    : examples.train;
  validate(opts, used.length);
  const all = model.weights.map((w) => w.variable);
  const vars = trainableVariables(model, opts);
  const mu = opts.proximalMu ?? 0;
  const ownAnchor = mu > 0 && opts.proximalAnchor === undefined;
  const anchorAll: readonly tf.Tensor[] = mu > 0 ? (opts.proximalAnchor ?? all.map((v) => tf.clone(v))) : [];
  if (anchorAll.length > 0 && anchorAll.length !== all.length) {
    throw new ConfigError(`training: proximal anchor has ${anchorAll.length} tensors, the model ${all.length}`);
  }
  const anchor = anchorAll.filter((_, i) => vars.includes(all[i]));
  const optimizer = createOptimizerStep({ learningRate: opts.learningRate, optimizer: opts.optimizer, fusedAdam: opts.fusedAdam });
  const validation = examples.validation ?? [];
  const patience = opts.earlyStoppingPatience ?? Number.POSITIVE_INFINITY;
  const stepsPerEpoch = Math.ceil(used.length / opts.batchSize);
  const epochs = opts.localEpochs;
  let best: { loss: number; epoch: number; weights: tf.Tensor[] } | undefined;
  let sinceBest = 0;
  let step = 0;
  let lastTrainLoss = Number.NaN;
  let epochsRun = 0;
  let lastValLoss = Number.NaN;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = seededPermutation(used.length, `${opts.seed}/epoch/${epoch}`);
      let sum = 0;
      chunks(order, opts.batchSize).forEach((idx, b) => {
        const batch = idx.map((i) => used[i]);
        const dropoutSeed = derivedSeed(opts.seed, 1, step);
        const maskSeed = `${opts.seed}/mask/${step}`;
        const inputs = stepInputs(model, batch, opts, maskSeed);
        let value: number;
        try {
          // The FedProx term is part of the differentiated objective, so either optimiser sees its gradient.
          value = optimizer.minimize(() => {
            const base = inputs.loss(true, dropoutSeed);
            if (mu === 0) return base;
            const sq = tf.addN(vars.map((v, i) => tf.sum(tf.squaredDifference(v, anchor[i]))));
            return tf.add(base, tf.mul(sq, mu / 2)) as tf.Scalar;
          }, vars);
        } finally {
          inputs.dispose();
        }
        sum += value * batch.length;
        step++;
        onProgress?.({ phase: opts.phase, epoch, epochs, step: b + 1, steps: stepsPerEpoch, loss: value });
      });
      lastTrainLoss = sum / used.length;
      epochsRun = epoch + 1;
      if (validation.length > 0) {
        lastValLoss = validationLoss(model, validation, opts);
        if (best === undefined || lastValLoss < best.loss) {
          best?.weights.forEach((t) => t.dispose());
          best = { loss: lastValLoss, epoch, weights: all.map((v) => tf.clone(v)) };
          sinceBest = 0;
        } else if (++sinceBest >= patience) {
          break;
        }
      }
    }
    const restored = best !== undefined && best.epoch !== epochsRun - 1;
    if (best !== undefined && restored) all.forEach((v, i) => v.assign(best!.weights[i]));
    const metrics: Record<string, number> = {
      trainLoss: lastTrainLoss,
      epochsRun,
      steps: step,
      stoppedEarly: epochsRun < epochs ? 1 : 0,
    };
    if (best !== undefined) {
      metrics.valLoss = best.loss;
      metrics.bestEpoch = best.epoch;
      metrics.lastValLoss = lastValLoss;
    }
    return { metrics, numExamples: used.length, stepsRun: step };
  } finally {
    optimizer.dispose();
    best?.weights.forEach((t) => t.dispose());
    if (ownAnchor) anchorAll.forEach((t) => t.dispose());
  }
}
