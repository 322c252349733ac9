import { FedProfileError } from '../errors.js';
import type { ServerAggregationSession } from '../aggregation/seam.js';
import { fractionalBits } from '../secagg/quantise.js';
import { RdpAccountant } from './accountant.js';
import { distributedNoiseStd, roundingL2Bound, type DpConfig, type DpMode } from './dp-fedavg.js';
import { CentralDpServerSession } from './dp-session.js';
import type { PrivacySpent } from './rdp.js';

/** What a client is told in `aggregation.params.dp`: clip to clipNorm, add N(0, noiseStd²), send weight 1. */
export interface ClientDpParams { clipNorm: number; noiseStd: number }

/** The federation is out of privacy budget: the round is not started and the federation pauses. */
export class PrivacyBudgetError extends FedProfileError {
  constructor(message: string) { super('CONFLICT', message); }
}

/** Privacy spent by a federation so far, as the API, the dashboard and reports show it. */
export interface PrivacyStatus {
  mode: DpMode;
  epsilon: number;
  delta: number;
  epsilonBudget: number | null;
  rounds: number;
  noiseMultiplier: number;
  clipNorm: number;
}

/** Round metrics a DP round leaves behind (the engine prefixes aggregator metrics with 'agg.'). */
export const DP_ROUND_METRICS = { samplingRate: 'agg.dpSamplingRate', noiseMultiplier: 'agg.dpNoiseMultiplier' } as const;

/**
 * One federation's DP-FedAvg: its accountant, the per-round client parameters, the budget check before a
 * round starts, and the session wrapper. Created from the config and the metrics of the rounds already
 * committed (each stores the sampling rate and the noise multiplier it achieved), so a restarted coordinator
 * resumes the same ε. A round whose commit failed after its aggregate was noised is not replayed (its noised
 * mean was never applied to the model).
 */
export class FederationDp {
  readonly accountant: RdpAccountant;

  constructor(readonly config: DpConfig & { enabled: true }, committedRoundMetrics: ReadonlyArray<Record<string, number> | null | undefined> = []) {
    this.accountant = new RdpAccountant({ sampling: config.sampling, delta: config.delta, epsilonBudget: config.epsilonBudget });
    for (const m of committedRoundMetrics) {
      const q = m?.[DP_ROUND_METRICS.samplingRate];
      const s = m?.[DP_ROUND_METRICS.noiseMultiplier];
      if (typeof q === 'number' && typeof s === 'number' && q > 0 && q <= 1 && s > 0) this.accountant.record(q, s);
    }
  }

  get mode(): DpMode { return this.config.mode ?? 'central'; }

  status(): PrivacyStatus {
    const spent = this.accountant.spent();
    return {
      mode: this.mode, epsilon: spent.epsilon, delta: spent.delta, epsilonBudget: this.config.epsilonBudget ?? null,
      rounds: this.accountant.rounds, noiseMultiplier: this.config.noiseMultiplier, clipNorm: this.config.clipNorm,
    };
  }

  /** Contributors whose noise shares add up to z·C (distributed mode). */
  plannedContributors(cohort: number): number { return this.config.plannedContributors ?? Math.max(cohort, 1); }

  clientParams(cohort: number): ClientDpParams {
    return {
      clipNorm: this.config.clipNorm,
      noiseStd: this.mode === 'distributed' ? distributedNoiseStd(this.config.clipNorm, this.config.noiseMultiplier, this.plannedContributors(cohort)) : 0,
    };
  }

  /**
   * Sampling rate the accountant is charged: the cohort over the clients it was drawn from (at least the
   * cohort). The population is the clients online when the round is planned, the ones selection saw.
   */
  samplingRate(cohort: number, population: number): number {
    return Math.min(1, cohort / Math.max(population, cohort, 1));
  }

  /**
   * Throws PrivacyBudgetError when the round could take ε past the budget: in distributed mode with the
   * worst case that only `minContributors` deliver their noise share.
   */
  assertBudget(q: number, cohort: number, minContributors: number): PrivacySpent {
    const planned = this.plannedContributors(cohort);
    const worst = this.mode === 'distributed'
      ? this.config.noiseMultiplier * Math.sqrt(Math.min(minContributors, planned) / planned)
      : this.config.noiseMultiplier;
    const next = this.accountant.preview(q, worst);
    const budget = this.config.epsilonBudget;
    if (budget !== undefined && next.epsilon > budget) {
      const spent = this.accountant.spent();
      throw new PrivacyBudgetError(
        `privacy budget exhausted: ${this.accountant.rounds} round(s) spent ε = ${spent.epsilon.toFixed(3)} at δ = ${spent.delta}; `
        + `one more would reach ε = ${next.epsilon.toFixed(3)}, past dp.epsilonBudget ${budget}`,
      );
    }
    return next;
  }

  /**
   * Wraps the round's aggregation session. `secure` carries the SecAgg+ fixed-point setting, so the
   * accountant widens the sensitivity by the rounding bound √m·2^-f·W (stochastic rounding moves each
   * coordinate of a weight-1 client by less than W·2^-f, W being maxWeight).
   */
  wrap(inner: ServerAggregationSession, r: { cohort: number; samplingRate: number; dimension: number; secure?: { clip: number; maxWeight: number }; normal?: () => number }): ServerAggregationSession {
    const roundingL2 = r.secure ? roundingL2Bound(r.dimension, fractionalBits(r.cohort, r.secure.clip)) * r.secure.maxWeight : 0;
    return new CentralDpServerSession(inner, {
      mode: this.mode, clipNorm: this.config.clipNorm, noiseMultiplier: this.config.noiseMultiplier, samplingRate: r.samplingRate,
      accountant: this.accountant, plannedContributors: this.plannedContributors(r.cohort), roundingL2,
      ...(r.normal ? { normal: r.normal } : {}),
    });
  }
}
