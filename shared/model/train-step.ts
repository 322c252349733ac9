import { isStatisticWeight } from './next-item-statistics.js';
import * as tf from '@tensorflow/tfjs';
import { FusedAdam } from './adam.js';
import type { ModelBatch } from './batch.js';
import type { FinetuneTargets, ProfileModel } from './profile-model.js';

export interface StepOptions {
  learningRate: number;
  optimizer?: 'adam' | 'sgd';
  /** Use the fused Adam kernel (default). false = tf.train.adam with the same hyper-parameters. */
  fusedAdam?: boolean;
}

/** One optimiser for one fixed variable list (Adam moments are kept per variable). */
export interface OptimizerStep {
  /** Computes the gradients of f over vars, applies one update and returns the loss before it. */
  minimize(f: () => tf.Scalar, vars: tf.Variable[]): number;
  dispose(): void;
}

export interface TrainSteps {
  /** One optimiser step on the Cloze loss; returns the loss before the update. */
  cloze(batch: ModelBatch, positions: tf.Tensor1D | Int32Array, targets: tf.Tensor1D | Int32Array, dropoutSeed?: number): number;
  /** One step on the fine-tuning heads' loss. */
  finetune(batch: ModelBatch, t: FinetuneTargets, dropoutSeed?: number): number;
  dispose(): void;
}

function generic(opt: tf.Optimizer): OptimizerStep {
  return {
    minimize: (f, vars) => {
      const loss = opt.minimize(f, true, vars);
      const v = loss === null ? NaN : loss.dataSync()[0]!;
      loss?.dispose();
      return v;
    },
    dispose: () => opt.dispose(),
  };
}

/**
 * The optimiser every training path uses: Adam is the fused one (PyTorch semantics: eps 1e-8 added to
 * sqrt(v̂), one kernel per variable) unless fusedAdam is false; SGD is tf.train.sgd.
 */
export function createOptimizerStep(opts: StepOptions): OptimizerStep {
  const lr = opts.learningRate;
  if ((opts.optimizer ?? 'adam') === 'sgd') return generic(tf.train.sgd(lr));
  return opts.fusedAdam === false ? generic(tf.train.adam(lr, 0.9, 0.999, 1e-8)) : new FusedAdam({ learningRate: lr });
}

/**
 * Optimiser steps over exactly the variables that receive gradients, leaving no tensors behind. Adam is the
 * fused one (PyTorch semantics, one kernel per variable). Reading the loss back is the only sync per step.
 */
export function createTrainSteps(model: ProfileModel, opts: StepOptions): TrainSteps {
  // One optimiser per objective: Adam moments belong to one fixed variable list.
  const clozeOpt = createOptimizerStep(opts);
  const finetuneOpt = createOptimizerStep(opts);
  const clozeVars = model.weights.filter((w) => (!w.name.startsWith('head/') || w.name === 'head/item/bias') && !isStatisticWeight(w.name)).map((w) => w.variable);
  // The item output bias gets no gradient from the heads' loss; the tied item table does, via the embedding.
  const finetuneVars = model.weights.filter((w) => w.name !== 'head/item/bias' && !isStatisticWeight(w.name)).map((w) => w.variable);
  return {
    cloze: (batch, positions, targets, dropoutSeed) => clozeOpt.minimize(() => model.clozeLoss(batch, positions, targets, true, dropoutSeed), clozeVars),
    finetune: (batch, t, dropoutSeed) => finetuneOpt.minimize(() => model.finetuneLoss(batch, t, true, dropoutSeed), finetuneVars),
    dispose: () => { clozeOpt.dispose(); finetuneOpt.dispose(); },
  };
}
