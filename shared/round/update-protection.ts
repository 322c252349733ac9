import type { RobustAggregation } from '../aggregation/robust/config.js';
import { RobustServerSession } from '../aggregation/robust/session.js';
import type { ServerAggregationSession } from '../aggregation/seam.js';
import type { ExactPart } from '../compression/exact-part.js';
import { DecodingServerSession, type UploadCompression } from '../compression/upload.js';
import type { ClientPrivacy } from '../privacy/client-transform.js';
import type { DpConfig } from '../privacy/dp-fedavg.js';
import { FederationDp } from '../privacy/federation-dp.js';
import type { AggregationPlan } from './plan.js';
import { createServerAggregator, type ServerAggregatorArgs } from './server-aggregators.js';

/** What a federation asks of its updates, the same for the coordinator and the simulator. */
export interface ProtectionSettings {
  dp?: DpConfig | undefined;
  robustAggregation?: RobustAggregation | undefined;
  /** Plain-mode upload encoding; absent = float32. */
  uploadCompression?: UploadCompression | undefined;
  /** Present = SecAgg+ rounds (its coordinate clip sizes the fixed-point encoding DP accounts for). */
  secureAggregation?: { clip?: number | undefined } | undefined;
  /** The planned cohort (distributed DP's noise shares default to it). */
  clientsPerRound: number;
  /** Positions of the update that a lossy upload codec leaves alone (the federated statistics). */
  exactPart?: ExactPart | null;
}

export interface ProtectionOptions {
  /**
   * A fixed per-round sampling rate for the accountant (Poisson sampling: the expected rate, whatever the
   * draw); default: the cohort over the clients selection drew from.
   */
  samplingRate?: number;
  /** Seeded central-DP noise per round (simulations); default: the OS CSPRNG. */
  centralNoise?: (round: number) => () => number;
}

/**
 * How one federation protects its aggregate from what individual updates may carry: DP-FedAvg (clipping,
 * noise, the accountant and its budget), the robust aggregation rule, and the decoding of compressed
 * uploads. Built from the settings and the metrics of the committed rounds, so the accountant resumes. The
 * coordinator and the simulator's VirtualFederation wrap every round's server session with it, and send
 * `clientParams()` with every fit instruction for the clients' side.
 */
export class UpdateProtection {
  readonly dp: FederationDp | undefined;

  constructor(
    private readonly settings: ProtectionSettings,
    committedRoundMetrics: ReadonlyArray<Record<string, number> | null> = [],
    private readonly options: ProtectionOptions = {},
  ) {
    const dp = settings.dp;
    this.dp = dp?.enabled
      ? new FederationDp({ ...dp, enabled: true, plannedContributors: dp.plannedContributors ?? (dp.mode === 'distributed' ? settings.clientsPerRound : undefined) }, committedRoundMetrics)
      : undefined;
  }

  /**
   * What the fit instruction adds to the aggregation params: clipping/noise and upload compression.
   * `exactPart`: of a round that aggregates another vector than the whole model (a PEFT slice).
   */
  clientParams(exactPart: ExactPart | null | undefined = this.settings.exactPart): Record<string, unknown> {
    const privacy = this.clientPrivacy();
    const upload = this.settings.uploadCompression;
    const exact = exactPart?.exactRanges.map(([a, b]) => [a, b]);
    return {
      ...(privacy ? { privacy } : {}),
      ...(upload ? { compression: { ...upload, ...(exact ? { exactRanges: exact } : {}) } } : {}),
    };
  }

  /** What clients do to their update before sending it (`aggregation.params.privacy`); undefined = nothing. */
  clientPrivacy(): ClientPrivacy | undefined {
    if (this.dp) return { ...this.dp.clientParams(this.settings.clientsPerRound), unitWeight: true };
    const r = this.settings.robustAggregation;
    // Under SecAgg the coordinator cannot check a masked update's norm: honest clients clip themselves.
    if (r?.rule === 'norm-bound' && this.settings.secureAggregation) return { clipNorm: r.maxNorm, noiseStd: 0, unitWeight: false };
    return undefined;
  }

  /**
   * DP-FedAvg weighs every client 1, so the weight cap is 1: SecAgg+ then spends its fixed-point range on
   * the values instead of on weights no client sends.
   */
  adjustPlan(plan: AggregationPlan): AggregationPlan {
    if (!this.dp) return plan;
    return { ...plan, weightCap: 1, params: plan.kind === 'secagg' ? { ...plan.params, maxWeight: 1 } : plan.params };
  }

  /** Robust rules keep every update in the session; only the streaming mean sums on the vector worker. */
  streamsPlainMean(): boolean {
    const r = this.settings.robustAggregation;
    return !r || r.rule === 'none' || r.rule === 'mean';
  }

  /**
   * The round's server session. Throws PrivacyBudgetError (the engine then pauses the federation with the
   * reason) when the round could take ε past the budget; `population` is the clients selection drew from.
   */
  createSession(
    kind: 'plain' | 'secagg', args: ServerAggregatorArgs, population: number, exactPart: ExactPart | null | undefined = this.settings.exactPart,
  ): ServerAggregationSession {
    const cohort = args.participants.length;
    const q = this.options.samplingRate ?? this.dp?.samplingRate(cohort, population) ?? 1;
    // Before anything is allocated for the round: a refused round changes nothing.
    this.dp?.assertBudget(q, cohort, args.minResults);
    const rule = this.settings.robustAggregation;
    const inner = kind === 'plain' && rule && rule.rule !== 'none' && rule.rule !== 'mean'
      ? new RobustServerSession({
        vectorLength: args.vectorLength, minResults: args.minResults, targetResults: args.targetResults, maxWeight: args.maxWeight, rule,
      })
      : createServerAggregator(kind, args);
    const protectedSession = this.protect(inner, kind, args, q);
    // Decoding comes first, so DP clipping, bounds and the robust rule all see the decoded update.
    return this.settings.uploadCompression
      ? new DecodingServerSession(protectedSession, args.vectorLength, exactPart ?? null)
      : protectedSession;
  }

  private protect(inner: ServerAggregationSession, kind: 'plain' | 'secagg', args: ServerAggregatorArgs, q: number): ServerAggregationSession {
    if (!this.dp) return inner;
    const cohort = args.participants.length;
    const maxWeight = typeof args.options?.maxWeight === 'number' ? args.options.maxWeight : 1000;
    const normal = this.options.centralNoise?.(args.round);
    return this.dp.wrap(inner, {
      cohort, samplingRate: q, dimension: args.vectorLength,
      ...(kind === 'secagg' ? { secure: { clip: this.settings.secureAggregation?.clip ?? 1, maxWeight } } : {}),
      ...(normal ? { normal } : {}),
    });
  }
}
