import * as tf from '@tensorflow/tfjs';
import type { UserExample } from '../data/encoded.js';
import { ConfigError } from '../errors.js';
import type { ProfileModel } from '../model/profile-model.js';
import { createOptimizerStep } from '../model/train-step.js';
import { CMD_END, CMD_STEP, type SharedStep } from './allreduce.js';
import type { DataParallelGroup } from './data-parallel.js';
import { parallelStep } from './parallel-step.js';
import { derivedSeed, stepInputs, trainableVariables } from './step-inputs.js';
import type { FitConfig, TrainingProgress } from './types.js';
import { seededPermutation } from '../random.js';

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
  /**
   * Split every batch across this group's engines (the calling thread is one of them) and all-reduce the
   * gradients. Absent or a 1-thread group: one engine, the arithmetic of the plain path.
   */
  dataParallel?: DataParallelGroup;
  /** Sampled softmax for the Cloze loss (see ObjectiveOptions.sampledNegatives); absent = full softmax. */
  sampledNegatives?: number;
}

export { derivedSeed };

/** How long the calling thread waits for the helper engines of one step before it gives up. */
const STALL_MS = 120_000;

export interface TrainExamples {
  train: readonly UserExample[];
  validation?: readonly UserExample[];
}

export interface TrainResult {
  metrics: Record<string, number>;
  numExamples: number;
  stepsRun: number;
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
  const s = opts.sampledNegatives;
  if (s !== undefined && (!Number.isInteger(s) || s < 1)) bad(`sampledNegatives must be an integer >= 1 (got ${s})`);
  if (numTrain === 0) bad('no training examples');
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
  const group = opts.dataParallel !== undefined && opts.dataParallel.threads > 1 ? opts.dataParallel : undefined;
  let shared: SharedStep | undefined;
  try {
    shared = group?.begin(model, vars, opts, used);
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = seededPermutation(used.length, `${opts.seed}/epoch/${epoch}`);
      let sum = 0;
      chunks(order, opts.batchSize).forEach((idx, b) => {
        const batch = idx.map((i) => used[i]);
        const dropoutSeed = derivedSeed(opts.seed, 1, step);
        const maskSeed = `${opts.seed}/mask/${step}`;
        const proximal = () => tf.mul(tf.addN(vars.map((v, i) => tf.sum(tf.squaredDifference(v, anchor[i])))), mu / 2) as tf.Scalar;
        let value: number;
        if (shared !== undefined) {
          shared.post(CMD_STEP, idx, step, dropoutSeed, STALL_MS);
          value = parallelStep(shared, model, vars, optimizer, batch, opts, maskSeed, dropoutSeed, mu > 0 ? proximal : undefined, STALL_MS);
        } else {
          const inputs = stepInputs(model, batch, opts, maskSeed);
          try {
            // The FedProx term is part of the differentiated objective, so either optimiser sees its gradient.
            value = optimizer.minimize(() => {
              const base = inputs.loss(true, dropoutSeed);
              if (mu === 0) return base;
              return tf.add(base, proximal()) as tf.Scalar;
            }, vars);
          } finally {
            inputs.dispose();
          }
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
    if (shared !== undefined) {
      try { shared.post(CMD_END, [], 0, 0, STALL_MS); } catch { /* the helpers already left after an abort */ }
    }
    optimizer.dispose();
    best?.weights.forEach((t) => t.dispose());
    if (ownAnchor) anchorAll.forEach((t) => t.dispose());
  }
}
