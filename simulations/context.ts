import { FedProfileError } from '../shared/errors.js';
import type { EvaluationMetrics } from '../shared/training/evaluate.js';
import type { WeightManifest } from '../shared/weights/manifest.js';
import type { SimulationConfig } from './config.js';
import type { Progress } from './progress.js';
import type { WorkerPool } from './pool/pool.js';
import type { MetricsLog, RoundRecord } from './report/index.js';

/** What every strategy run needs: the pool, the starting model, the clients, and where results go. */
export interface RunContext {
  cfg: SimulationConfig;
  pool: WorkerPool;
  manifest: WeightManifest;
  initial: Float32Array;
  clientIds: readonly string[];
  /** Training examples per client (the FedAvg weight before capping). */
  trainSizes: ReadonlyMap<string, number>;
  log: MetricsLog;
  progress: Progress;
  signal: AbortSignal;
  /** Bytes of one global model on the wire (the real binary envelope). */
  modelBytes: number;
  /** Rounds each client completed, per strategy. */
  participation: Record<string, Record<string, number>>;
  /** The latest global model of each strategy that has one (centralized and the federated ones). */
  finalModels: Record<string, Float32Array>;
}

export class InterruptedError extends FedProfileError {
  constructor() {
    super('CONFLICT', 'the simulation was interrupted');
  }
}

export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new InterruptedError();
}

/** Rejects as soon as the run is interrupted, so a long round does not hold Ctrl-C hostage. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new InterruptedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new InterruptedError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e instanceof Error ? e : new Error(String(e))); },
    );
  });
}

export const totalRounds = (cfg: SimulationConfig): number => cfg.training.pretrainRounds + cfg.training.rounds;
export const phaseOf = (cfg: SimulationConfig, round: number): 'pretrain' | 'finetune' =>
  (round <= cfg.training.pretrainRounds ? 'pretrain' : 'finetune');
export const learningRateOf = (cfg: SimulationConfig, round: number): number =>
  (phaseOf(cfg, round) === 'pretrain' ? cfg.training.pretrainLearningRate ?? cfg.training.learningRate : cfg.training.learningRate);

/** A 31-bit seed derived from the experiment seed and a label, so every stream is independent and fixed. */
export function seedFor(seed: number, label: string): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  h ^= h >>> 15;
  return (h >>> 0) & 0x7fffffff;
}

export type EvalNumbers = Pick<RoundRecord, 'loss' | 'ndcg10' | 'hr10' | 'auc' | 'interestP3' | 'tierAcc' | 'ndcg10Model' | 'ndcg10Statistics'>;

export function evalNumbers(m: EvaluationMetrics | null): EvalNumbers {
  if (!m) return { loss: NaN, ndcg10: NaN, hr10: NaN, auc: NaN, interestP3: NaN, tierAcc: NaN };
  return {
    loss: m.loss, ndcg10: m.ndcg10, hr10: m.hr10, auc: m.auc, interestP3: m.interestP3, tierAcc: m.tierAcc,
    ...(m.ndcg10Model !== undefined ? { ndcg10Model: m.ndcg10Model, ndcg10Statistics: m.ndcg10Statistics } : {}),
  };
}

/** Example-weighted mean of per-client metrics; a metric undefined for a client (NaN) is left out for it. */
export function weightedEvalNumbers(parts: readonly { n: number; m: EvaluationMetrics | null }[]): EvalNumbers {
  const keys = ['loss', 'ndcg10', 'hr10', 'auc', 'interestP3', 'tierAcc', 'ndcg10Model', 'ndcg10Statistics'] as const;
  const out = {} as EvalNumbers;
  for (const k of keys) {
    let s = 0;
    let w = 0;
    for (const p of parts) {
      const v = p.m?.[k];
      if (v === undefined || !Number.isFinite(v) || p.n <= 0) continue;
      s += v * p.n;
      w += p.n;
    }
    if (w > 0) out[k] = s / w;
    else if (k !== 'ndcg10Model' && k !== 'ndcg10Statistics') out[k] = NaN;
  }
  return out;
}
