import type { WeightManifest } from '../weights/manifest.js';

/** What a strategy asks one client to do in one round (Flower's FitIns config, typed). */
export interface FitConfig {
  round: number;
  /** 'pretrain' = masked-behaviour (Cloze) only; 'finetune' = profile heads (+ Cloze auxiliary). */
  phase: 'pretrain' | 'finetune';
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd';
  /** FedProx proximal term weight; 0 or undefined = plain local SGD/Adam. */
  proximalMu?: number;
  /** Cap on examples used this round (also the SecAgg+ maxWeight). */
  maxExamples?: number;
  seed: number;
  /** Keep the local epoch with the best validation loss; false (or absent) keeps the last epoch. */
  selectByValidation?: boolean;
  /** Parameter-efficient fine-tuning: train only these weights (by name); the others stay frozen. */
  trainOnly?: readonly string[];
}

export interface FitResult {
  /** New local weights minus the global weights the client started from, flat, in manifest order. */
  delta: Float32Array;
  numExamples: number;
  metrics: Record<string, number>;
}

export interface EvaluateResult {
  numExamples: number;
  /** e.g. loss, ndcg10, hr10, auc, interestP3, tierAcc. */
  metrics: Record<string, number>;
}

export interface TrainingProgress {
  phase: FitConfig['phase'];
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
}

/**
 * What a client node needs from local training. The real implementation trains the profile model in a
 * worker thread on the merchant's private examples; the runtime only sees flat weights and numbers.
 */
export interface LocalTrainer {
  fit(
    global: Float32Array,
    manifest: WeightManifest,
    config: FitConfig,
    onProgress?: (p: TrainingProgress) => void,
  ): Promise<FitResult>;
  evaluate(global: Float32Array, manifest: WeightManifest): Promise<EvaluateResult>;
  close(): Promise<void>;
}
