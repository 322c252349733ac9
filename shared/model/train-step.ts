import * as tf from '@tensorflow/tfjs';
import type { ModelBatch } from './batch.js';
import type { FinetuneTargets, ProfileModel } from './profile-model.js';

export interface StepOptions {
  learningRate: number;
  optimizer?: 'adam' | 'sgd';
}

export interface TrainSteps {
  /** One Adam/SGD step on the Cloze loss; returns the loss before the update. */
  cloze(batch: ModelBatch, positions: tf.Tensor1D | Int32Array, targets: tf.Tensor1D | Int32Array, dropoutSeed?: number): number;
  /** One step on the fine-tuning heads' loss. */
  finetune(batch: ModelBatch, t: FinetuneTargets, dropoutSeed?: number): number;
  dispose(): void;
}

/**
 * Optimiser steps over exactly the variables that receive gradients, leaving no tensors behind. Reading the
 * loss back is the only synchronisation per step.
 */
export function createTrainSteps(model: ProfileModel, opts: StepOptions): TrainSteps {
  const make = () => ((opts.optimizer ?? 'adam') === 'adam' ? tf.train.adam(opts.learningRate) : tf.train.sgd(opts.learningRate));
  // One optimiser per objective: tfjs Adam keeps its moments by position in the variable list, so one
  // instance must always see the same variables.
  const clozeOpt = make();
  const finetuneOpt = make();
  const clozeVars = model.weights.filter((w) => !w.name.startsWith('head/') || w.name === 'head/item/bias').map((w) => w.variable);
  // The item output bias gets no gradient from the heads' loss; the tied item table does, via the embedding.
  const finetuneVars = model.weights.filter((w) => w.name !== 'head/item/bias').map((w) => w.variable);
  const run = (optimizer: tf.Optimizer, f: () => tf.Scalar, vars: tf.Variable[]): number => {
    const loss = optimizer.minimize(f, true, vars);
    if (loss === null) return NaN;
    const v = loss.dataSync()[0]!;
    loss.dispose();
    return v;
  };
  return {
    cloze: (batch, positions, targets, dropoutSeed) => run(clozeOpt, () => model.clozeLoss(batch, positions, targets, true, dropoutSeed), clozeVars),
    finetune: (batch, t, dropoutSeed) => run(finetuneOpt, () => model.finetuneLoss(batch, t, true, dropoutSeed), finetuneVars),
    dispose: () => { clozeOpt.dispose(); finetuneOpt.dispose(); },
  };
}
