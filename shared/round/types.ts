import type { AggregationOutcome, ServerAggregationSession } from '../aggregation/seam.js';
import type { FitConfig } from '../training/types.js';
import type { ServerMessage } from '../protocol/messages.js';
import type { FailurePolicy } from './backoff.js';

/** The strategy hooks the round engine needs (adapted from the Flower-style Strategy; all pure). */
export interface RoundPlanner {
  /** Seeded selection (over-selected) and each selected client's fit instructions. */
  configureFit(round: number, available: readonly string[], rng: () => number): Array<{ clientId: string; config: FitConfig }>;
  /** Quorum: minimum number of results a round needs. */
  minFitResults(): number;
  /** Results wanted; once this many arrived the rest are stragglers. */
  targetFitResults(): number;
  /** Clients asked to evaluate the new global model after `round`; empty = no evaluation this round. */
  configureEvaluate(round: number, available: readonly string[], rng: () => number): string[];
  aggregateEvaluate(round: number, results: ReadonlyArray<{ clientId: string; numExamples: number; metrics: Record<string, number> }>): Record<string, number>;
  /**
   * A selection below the quorum fails the round (it counts as one) instead of waiting for more clients:
   * for selection policies whose draw is itself the round, such as simulated Poisson sampling.
   */
  readonly shortSelectionFails?: boolean;
  /**
   * Aggregation params of this round on top of the federation's (asked once, after configureFit): for
   * rounds that aggregate another vector than the whole model, such as a PEFT slice.
   */
  roundAggregationParams?(round: number): Record<string, unknown> | undefined;
}

export interface RoundEngineConfig {
  federationId: string;
  seed: number;
  /** Rounds to complete before the federation finishes. */
  rounds: number;
  /** A round starts only with at least this many clients online. */
  minClients: number;
  deadlines: { trainMs: number; aggregationStageMs: number; evaluateMs: number };
  aggregation: { kind: 'plain' | 'secagg'; params: Record<string, unknown> };
  /** Backoff and auto-pause after failed rounds; absent = retry at once, never pause. */
  failurePolicy?: FailurePolicy;
}

/**
 * Builds a round's server aggregation session. A session that finishes work between inputs (background
 * summing) reports it through its onSettled callback, which the driver wires to a 'session-settled' event.
 */
export interface AggregatorFactory {
  (args: { round: number; participants: readonly string[]; minResults: number; targetResults: number }): ServerAggregationSession;
}

export type FederationStatus = 'created' | 'running' | 'paused' | 'stopped' | 'completed';

export interface ResumePoint {
  status: FederationStatus;
  completedRounds: number;
  /** Last round number used (completed, failed or interrupted); the next round is lastRound + 1. */
  lastRound: number;
  modelHash: string;
}

export type RoundEvent = { now: number } & (
  | { type: 'start' } | { type: 'pause' } | { type: 'resume' } | { type: 'stop' }
  | { type: 'client-online'; clientId: string }
  | { type: 'client-offline'; clientId: string }
  | { type: 'tick' }
  | { type: 'agg-message'; from: string; round: number; aggType: string; payload: unknown }
  /** The round's aggregation session finished background work: its outcome may have changed. */
  | { type: 'session-settled'; round: number }
  | { type: 'fit-meta'; from: string; round: number; numExamples: number; metrics: Record<string, number>; trainMs: number }
  | { type: 'fit-failed'; from: string; round: number; reason: string }
  | { type: 'eval-result'; from: string; round: number; numExamples: number; metrics: Record<string, number> }
  | { type: 'committed'; round: number; modelHash: string }
  | { type: 'commit-failed'; round: number; reason: string }
);

export interface RoundSummary {
  round: number;
  participants: string[];
  contributors: string[];
  totalWeight: number;
  /** Example-weighted means of the contributors' training metrics, plus the aggregator's own metrics. */
  metrics: Record<string, number>;
  startedAt: number;
  aggregatedAt: number;
}

export type RoundCommand =
  | { type: 'send'; to: string; message: ServerMessage }
  | { type: 'timer'; at: number | null }
  | { type: 'round-started'; round: number; participants: string[]; at: number }
  /** Apply the strategy to the mean, checkpoint, persist; then feed back 'committed' or 'commit-failed'. */
  | { type: 'commit'; summary: RoundSummary; outcome: Extract<AggregationOutcome, { status: 'done' }> }
  | { type: 'round-failed'; round: number; reason: string; at: number }
  | { type: 'round-evaluated'; round: number; metrics: Record<string, number>; clients: number; at: number }
  | { type: 'status'; status: FederationStatus; reason?: string }
  | { type: 'reject'; clientId: string; code: string; reason: string; message: string }
  | { type: 'log'; level: 'info' | 'warn'; msg: string; data?: Record<string, unknown> };
