import { RobustServerSession } from '../../shared/aggregation/robust/session.js';
import type { ServerAggregationSession } from '../../shared/aggregation/seam.js';
import { FederationDp } from '../../shared/privacy/federation-dp.js';
import type { ClientPrivacy } from '../../shared/privacy/client-transform.js';
import { createServerAggregator, type ServerAggregatorArgs } from '../../shared/round/server-aggregators.js';
import type { FederationConfig } from '../federation-config.js';
import { DecodingServerSession } from '../../shared/compression/upload.js';

/**
 * How one federation protects its aggregate from what individual updates may carry: DP-FedAvg (clipping,
 * noise, the accountant and its budget) and the robust aggregation rule. Built from the federation's config
 * (validated by federationConfigProblems) and the metrics of its committed rounds, so the accountant resumes.
 */
export class UpdateProtection {
  readonly dp: FederationDp | undefined;

  constructor(private readonly config: FederationConfig, committedRoundMetrics: ReadonlyArray<Record<string, number> | null>) {
    const dp = config.dp;
    this.dp = dp?.enabled
      ? new FederationDp({ ...dp, enabled: true, plannedContributors: dp.plannedContributors ?? (dp.mode === 'distributed' ? config.strategy.clientsPerRound : undefined) }, committedRoundMetrics)
      : undefined;
  }

  /** What the fit instruction adds to the aggregation params: clipping/noise and upload compression. */
  clientParams(): Record<string, unknown> {
    const privacy = this.clientPrivacy();
    const upload = this.config.compression?.upload;
    return { ...(privacy ? { privacy } : {}), ...(upload ? { compression: upload } : {}) };
  }

  /** What clients do to their update before sending it (`aggregation.params.privacy`); undefined = nothing. */
  clientPrivacy(): ClientPrivacy | undefined {
    if (this.dp) return { ...this.dp.clientParams(this.config.strategy.clientsPerRound), unitWeight: true };
    const r = this.config.robustAggregation;
    // Under SecAgg the coordinator cannot check a masked update's norm: honest clients clip themselves.
    if (r?.rule === 'norm-bound' && this.config.secureAggregation) return { clipNorm: r.maxNorm, noiseStd: 0, unitWeight: false };
    return undefined;
  }

  /** Robust rules keep every update in the session; only the streaming mean sums on the vector worker. */
  streamsPlainMean(): boolean {
    const r = this.config.robustAggregation;
    return !r || r.rule === 'none' || r.rule === 'mean';
  }

  /**
   * The round's server session. Throws PrivacyBudgetError (the engine then pauses the federation with the
   * reason) when the round could take ε past the budget; `population` is the clients selection drew from.
   */
  createSession(kind: 'plain' | 'secagg', args: ServerAggregatorArgs, population: number): ServerAggregationSession {
    const cohort = args.participants.length;
    const q = this.dp?.samplingRate(cohort, population) ?? 1;
    // Before anything is allocated for the round: a refused round changes nothing.
    this.dp?.assertBudget(q, cohort, args.minResults);
    const rule = this.config.robustAggregation;
    const inner = kind === 'plain' && rule && rule.rule !== 'none' && rule.rule !== 'mean'
      ? new RobustServerSession({
        vectorLength: args.vectorLength, minResults: args.minResults, targetResults: args.targetResults, maxWeight: args.maxWeight, rule,
      })
      : createServerAggregator(kind, args);
    const protectedSession = this.protect(inner, kind, args, q);
    // Decoding comes first, so DP clipping, bounds and the robust rule all see the decoded update.
    return this.config.compression?.upload ? new DecodingServerSession(protectedSession, args.vectorLength) : protectedSession;
  }

  private protect(inner: ServerAggregationSession, kind: 'plain' | 'secagg', args: ServerAggregatorArgs, q: number): ServerAggregationSession {
    if (!this.dp) return inner;
    const cohort = args.participants.length;
    const sa = this.config.secureAggregation;
    const maxWeight = typeof args.options?.maxWeight === 'number' ? args.options.maxWeight : 1000;
    return this.dp.wrap(inner, {
      cohort, samplingRate: q, dimension: args.vectorLength,
      ...(kind === 'secagg' ? { secure: { clip: sa?.clip ?? 1, maxWeight } } : {}),
    });
  }
}
