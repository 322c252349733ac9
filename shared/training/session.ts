import * as tf from '@tensorflow/tfjs';
import { FedProfileError } from '../errors.js';
import { ModelConfigSchema } from '../model/config.js';
import { ProfileModel } from '../model/profile-model.js';
import { initBackend } from '../tf/backend.js';
import { computeDelta } from '../weights/delta.js';
import { flattenTensors, unflattenToTensors } from '../weights/flatten.js';
import { assertVectorMatches, validateManifest } from '../weights/layout.js';
import type { WeightManifest } from '../weights/manifest.js';
import { evaluateBaselines, evaluateNamedBaselines, itemPopularity } from './baselines.js';
import { evaluateModel } from './evaluate.js';
import { DataParallelGroup, defaultTrainThreads } from './data-parallel.js';
import { readExamplesFile } from './examples-file.js';
import { refreshStatistics } from './statistics-refresh.js';
import { trainLocal } from './trainer.js';
import type { EvaluateResult, FitConfig, FitResult, TrainingProgress } from './types.js';
import type { ExampleSplits, WorkerInit } from './worker-protocol.js';

/**
 * The body of the training worker, kept free of worker plumbing so it also runs (and is tested) in-process:
 * one model, one client's examples, flat weights in and flat deltas out.
 */
export interface TrainingSession {
  backend: string;
  counts: { train: number; validation: number; test: number };
  fit(global: Float32Array, manifest: WeightManifest, config: FitConfig, onProgress?: (p: TrainingProgress) => void): FitResult;
  evaluate(global: Float32Array, manifest: WeightManifest): EvaluateResult;
  /** Stops the data-parallel helpers, if any. */
  close(): Promise<void>;
}

function checkManifest(model: ProfileModel, manifest: WeightManifest, global: Float32Array): void {
  validateManifest(manifest);
  assertVectorMatches(manifest, global, 'global weights');
  const own = model.weights;
  const mismatch = own.length !== manifest.specs.length
    ? `the model has ${own.length} weights, the manifest ${manifest.specs.length}`
    : own.map((w, i) => {
      const s = manifest.specs[i];
      const same = s.name === w.name && s.shape.length === w.variable.shape.length && s.shape.every((d, j) => d === w.variable.shape[j]);
      return same ? undefined : `weight #${i} is ${w.name} [${w.variable.shape.join(',')}] here but ${s.name} [${s.shape.join(',')}] in the manifest`;
    }).find((m) => m !== undefined);
  if (mismatch !== undefined) {
    throw new FedProfileError('INTEGRITY', `global weights do not fit this client's model config: ${mismatch}`);
  }
}

function loadGlobal(model: ProfileModel, global: Float32Array, manifest: WeightManifest): void {
  checkManifest(model, manifest, global);
  const tensors = unflattenToTensors(manifest, global);
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/** Metrics as a plain record; undefined values (NaN, e.g. AUC with one class) are left out. */
function finite(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
}

/**
 * The one client fit body, run by FederatedClient's training worker and by every simulated client: train
 * from the weights already loaded into `model`, keep the best epoch by validation loss when the strategy
 * asks for it (FitConfig.selectByValidation), report validation metrics, return the delta.
 */
export function fitFromLoadedWeights(
  model: ProfileModel, examples: { train: ExampleSplits['train']; validation: NonNullable<ExampleSplits['validation']> },
  global: Float32Array, config: FitConfig, training: WorkerInit['training'], onProgress?: (p: TrainingProgress) => void,
  dataParallel?: DataParallelGroup,
): FitResult {
  const { train, validation } = examples;
  const selecting = config.selectByValidation === true;
  // The FedProx anchor defaults to the weights at the start of training, i.e. exactly these global weights.
  const { threads: _threads, ...local } = training ?? {};
  const result = trainLocal(model, { train, validation: selecting ? validation : [] }, { ...local, ...config, dataParallel }, onProgress);
  // Statistics go in after training, divided by the same weight the update is averaged with.
  const refreshed = refreshStatistics(model, train, validation, result.numExamples, { excludeHistory: training?.evaluation?.excludeHistory === true });
  const { values } = flattenTensors(model.weights.map((w) => ({ name: w.name, tensor: w.variable })));
  const metrics: Record<string, number> = { ...result.metrics, ...(refreshed ? Object.fromEntries(Object.entries(refreshed.scorer).map(([k, v]) => [`statistics_${k}`, v])) : {}) };
  if (validation.length > 0) {
    const v = evaluateModel(model, validation, { k: training?.k ?? 10, seed: config.seed });
    for (const [key, value] of Object.entries(v)) if (key !== 'n') metrics[`val_${key}`] = value;
  }
  return { delta: computeDelta(values, global), numExamples: result.numExamples, metrics: finite(metrics) };
}

export async function createTrainingSession(init: WorkerInit): Promise<TrainingSession> {
  const parsed = ModelConfigSchema.safeParse(init.modelConfig);
  if (!parsed.success) throw new FedProfileError('BAD_CONFIG', `model config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const cfg = parsed.data;
  const info = await initBackend(init.backend);
  const splits: ExampleSplits = init.examples ?? await readExamplesFile(init.examplesFile!);
  const train = splits.train;
  const validation = splits.validation ?? [];
  const test = splits.test ?? [];
  const model = ProfileModel.create(cfg, init.seed);
  const k = init.training?.k ?? 10;
  const threads = init.training?.threads === 'auto' ? defaultTrainThreads() : (init.training?.threads ?? 1);
  const group = threads > 1 ? await DataParallelGroup.start({ threads, modelConfig: cfg }) : undefined;
  return {
    backend: info.name,
    counts: { train: train.length, validation: validation.length, test: test.length },
    fit(global, manifest, config, onProgress) {
      loadGlobal(model, global, manifest);
      return fitFromLoadedWeights(model, { train, validation }, global, config, init.training, onProgress, group);
    },
    evaluate(global, manifest) {
      loadGlobal(model, global, manifest);
      const examples = test.length > 0 ? test : validation;
      if (examples.length === 0) return { numExamples: 0, metrics: {} };
      const ev = init.training?.evaluation ?? {};
      const ranking = {
        ...(ev.excludeHistory ? { excludeHistory: true } : {}),
        ...(ev.popularityNegatives ? { negativeWeights: itemPopularity(train, cfg.itemVocab) } : {}),
      };
      const { n, ...model_ } = evaluateModel(model, examples, { k, seed: init.seed, ...ranking });
      // Baselines on the same users and negatives go beside every metric, as baseline_<key>.
      const ruleOptions = { k, seed: init.seed, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, numTiers: cfg.numTiers, ...ranking };
      const { n: _n, ...base } = evaluateBaselines(train, examples, ruleOptions);
      const markov = evaluateNamedBaselines(train, examples, ruleOptions).markov;
      const metrics: Record<string, number> = { ...model_ };
      for (const [key, value] of Object.entries(base)) metrics[`baseline_${key}`] = value;
      for (const [key, value] of Object.entries(markov)) if (value !== null) metrics[`baseline_markov_${key}`] = value;
      return { numExamples: n, metrics: finite(metrics) };
    },
    close: async () => { await group?.close(); },
  };
}
