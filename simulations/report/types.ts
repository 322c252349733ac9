import type { ProfileEvaluation } from '../../shared/training/profile-eval.js';
import type { RunMetadata } from './run-metadata.js';

/** One line of metrics.jsonl: one strategy after one round (local and centralized too, round = epoch block). */
export interface RoundRecord {
  strategy: string;
  round: number;
  phase: 'pretrain' | 'finetune';
  /** Evaluation on the held-out test users of every client (local: each client's own model, weighted). */
  loss: number;
  ndcg10: number;
  hr10: number;
  auc: number;
  interestP3: number;
  tierAcc: number;
  /** The learned scorer alone and the transition statistics alone, when the model fuses the two. */
  ndcg10Model?: number;
  ndcg10Statistics?: number;
  /** Wall time of this round, and since the strategy started. */
  seconds: number;
  totalSeconds: number;
  /** Bytes of this round (server -> clients is down), and cumulative. */
  bytesUp: number;
  bytesDown: number;
  totalBytesUp: number;
  totalBytesDown: number;
  clientsSelected: number;
  clientsCompleted: number;
  clientsDropped: number;
  /** Where the round's time went (training, secure aggregation crypto, evaluation), seconds. */
  timing?: Record<string, number>;
  /** Aggregator numbers (e.g. clippedFraction, bitWidth). */
  aggregation?: Record<string, number>;
}

export const METRICS = ['ndcg10', 'hr10', 'auc', 'interestP3', 'tierAcc'] as const;
export type MetricName = (typeof METRICS)[number];

export interface StrategySummary {
  ndcg10: number;
  hr10: number;
  auc: number;
  interestP3: number;
  tierAcc: number;
  rounds: number;
  ndcg10Model?: number;
  ndcg10Statistics?: number;
  seconds: number;
  bytesUp: number;
  bytesDown: number;
  /** First fine-tuning round reaching 90% of centralized NDCG@10 (null when never, absent without centralized). */
  roundsTo90pctCentralizedNdcg?: number | null;
  /** Seconds summed over rounds by where they went (train, aggregation, evaluate; clientTrainCpu = sum over clients). */
  timing?: Record<string, number>;
  /** Rounds each client completed, for the participation histogram. */
  participation?: Record<string, number>;
  /** DP-FedAvg runs: (ε, δ) spent by the last round, and the mean bytes per round each way. */
  privacy?: { epsilon: number; delta: number; rounds: number };
  bytesPerRound?: { up: number; down: number };
}

export interface Summary {
  strategies: Record<string, StrategySummary>;
  /** How test examples were held out and ranked. */
  evaluation?: { protocol: 'time-window' | 'leave-one-out'; excludeHistory: boolean; negatives: 'uniform' | 'popularity'; testUsers: number };
  /** The one-line rules on the same pooled test examples: {name: {metric: value}}, null where unmeasurable. */
  baselines?: Record<string, Record<string, number | null>>;
  config: unknown;
  backend: string;
  data?: unknown;
  partition?: unknown;
  interrupted?: boolean;
  wallSeconds?: number;
  /** fedprofile version, git commit, Node.js, date and command of the run. */
  run?: RunMetadata;
  /** Completeness, timeliness and faithfulness of each strategy's final profiles (strategies with one global model). */
  profile?: Record<string, ProfileEvaluation>;
}
