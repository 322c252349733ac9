import type { UserExample } from '../data/encoded.js';
import type { ErrorCode } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { BackendChoice } from '../tf/backend.js';
import type { WeightManifest } from '../weights/manifest.js';
import type { FitConfig, TrainingProgress } from './types.js';

/** A client's private examples, split by time per user (see shared/data). */
export interface ExampleSplits {
  train: UserExample[];
  validation?: UserExample[];
  test?: UserExample[];
}

/** Knobs of local training that are the client's business rather than the strategy's. */
export interface LocalTrainingOptions {
  earlyStoppingPatience?: number;
  maskProb?: number;
  clozeWeightInFinetune?: number;
  /** Train next-item prediction from a MASK appended to each history, beside the Cloze task. */
  nextItemObjective?: boolean;
  /** Causal models: share of earlier positions trained per step (the latest always is). Default 1. */
  causalTargetShare?: number;
  /** K of HR@K / NDCG@K in evaluate(). Default 10. */
  k?: number;
  /**
   * How next-item rankings are scored: leave the user's history out of the ranking, and draw the 100 sampled
   * negatives by training popularity (the leave-one-out protocol does both).
   */
  evaluation?: { excludeHistory?: boolean; popularityNegatives?: boolean };
}

export interface WorkerInit {
  modelConfig: ModelConfig;
  examples?: ExampleSplits;
  /** Path to an examples file written by writeExamplesFile (read inside the worker, never copied). */
  examplesFile?: string;
  backend?: BackendChoice;
  seed: number;
  training?: LocalTrainingOptions;
}

export type ToWorker =
  | { type: 'init'; init: WorkerInit }
  | { type: 'fit'; id: number; global: Float32Array; manifest: WeightManifest; config: FitConfig }
  | { type: 'evaluate'; id: number; global: Float32Array; manifest: WeightManifest };

export type FromWorker =
  | { type: 'ready'; backend: string; counts: { train: number; validation: number; test: number } }
  | { type: 'progress'; id: number; progress: TrainingProgress }
  | { type: 'fitResult'; id: number; delta: Float32Array; numExamples: number; metrics: Record<string, number> }
  | { type: 'evaluateResult'; id: number; numExamples: number; metrics: Record<string, number> }
  | { type: 'error'; id: number | null; code: ErrorCode; message: string; details?: Record<string, unknown> };
