import type { UserExample } from '../../shared/data/encoded.js';
import type { ErrorCode } from '../../shared/errors.js';
import type { ModelConfig } from '../../shared/model/config.js';
import type { BackendChoice } from '../../shared/tf/backend.js';
import type { EvaluationMetrics } from '../../shared/training/evaluate.js';
import type { FitConfig } from '../../shared/training/types.js';
import type { LocalTrainingOptions } from '../../shared/training/worker-protocol.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';

/** Every virtual client's private examples; each pool worker holds all of them and trains whichever it is told. */
export interface ClientData {
  train: UserExample[];
  validation: UserExample[];
  test: UserExample[];
}

export interface PoolInit {
  modelConfig: ModelConfig;
  manifest: WeightManifest;
  backend?: BackendChoice;
  seed: number;
  training: LocalTrainingOptions;
  clients: Record<string, ClientData>;
  /** Latent interests by userKey (synthetic data), so interest P@3 is measured against the truth. */
  interestTruth?: Record<string, number[]>;
}

/** The pooled data of every client, for the centralized upper bound and for global evaluation. */
export const POOLED = '*';

export type PoolTask =
  /** Train `clientId` (or POOLED) from `global` as a real client would (config.selectByValidation included); returns the delta. */
  | { kind: 'fit'; clientId: string; global: Float32Array; config: FitConfig }
  /** Evaluate `global` on the test examples of `clientId` (or of every client, POOLED). */
  | { kind: 'evaluate'; clientId: string; global: Float32Array; evalSeed: number };

export type PoolResult =
  | { kind: 'fit'; delta: Float32Array; numExamples: number; metrics: Record<string, number>; seconds: number }
  | { kind: 'evaluate'; metrics: EvaluationMetrics | null; seconds: number };

export type ToPoolWorker =
  | { type: 'init'; init: PoolInit }
  | { type: 'task'; id: number; task: PoolTask };

export type FromPoolWorker =
  | { type: 'ready'; backend: string }
  | { type: 'result'; id: number; result: PoolResult }
  | { type: 'error'; id: number | null; code: ErrorCode; message: string };
