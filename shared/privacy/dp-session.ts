import { FedProfileError } from '../errors.js';
import { PLAIN_UPDATE } from '../aggregation/plain-session.js';
import type { AggregationOutcome, Outbound, ServerAggregationSession } from '../aggregation/seam.js';
import type { RdpAccountant } from './accountant.js';
import { clipL2 } from './clip.js';
import { noiseCentralMean } from './dp-fedavg.js';
import { gaussianSource } from './noise.js';

export interface CentralDpOptions {
  clipNorm: number;
  noiseMultiplier: number;
  /** Sampling rate of this round (planned cohort / eligible clients), for the accountant. */
  samplingRate: number;
  /** The federation's accountant: it outlives the round. */
  accountant: RdpAccountant;
  /** Standard normal source; the default draws from the OS CSPRNG. */
  normal?: () => number;
}

/**
 * Central DP-FedAvg around a plain (unmasked) aggregation session, for a coordinator that is trusted with
 * individual updates: each update is clipped to L2 norm ≤ C and weighted 1 before the inner session sums it,
 * and the finished mean gets N(0, (zC/n)²) noise; the round is then charged to the accountant and the
 * outcome carries dpEpsilon / dpDelta, so the runtime's round metrics (API, dashboard) show ε per round.
 * A round that would take ε past the budget aborts at begin() with the reason, before any update is sent.
 * The inner session must be created with maxWeight ≥ 1 (weights are all 1 here).
 */
export class CentralDpServerSession implements ServerAggregationSession {
  private clipped = 0;
  private seen = 0;
  private final: AggregationOutcome | undefined;
  private refused: string | undefined;

  constructor(private readonly inner: ServerAggregationSession, private readonly opts: CentralDpOptions) {
    if (!(opts.clipNorm > 0) || !(opts.noiseMultiplier > 0)) throw new FedProfileError('BAD_CONFIG', 'central DP needs clipNorm > 0 and noiseMultiplier > 0');
  }

  get stage(): string { return this.refused ? 'aborted' : this.inner.stage; }

  begin(participants: readonly string[]): Outbound[] {
    if (this.opts.accountant.wouldExceed(this.opts.samplingRate, this.opts.noiseMultiplier)) {
      const spent = this.opts.accountant.spent();
      this.refused = `privacy budget: this round would take ε from ${spent.epsilon.toFixed(3)} past ${this.opts.accountant.budget} (δ = ${spent.delta})`;
      return [];
    }
    return this.inner.begin(participants);
  }

  handle(from: string, type: string, payload: unknown): Outbound[] {
    if (this.refused) throw new FedProfileError('CONFLICT', this.refused);
    if (type !== PLAIN_UPDATE) return this.inner.handle(from, type, payload);
    const p = payload as { update?: unknown } | null;
    if (!p || typeof p !== 'object' || !(p.update instanceof Float32Array)) return this.inner.handle(from, type, payload);
    // clipL2 rejects non-finite updates with BAD_INPUT, as the inner session would.
    const c = clipL2(p.update, this.opts.clipNorm);
    const out = this.inner.handle(from, type, { update: c.values, weight: 1 });
    this.seen++;
    if (c.clipped) this.clipped++;
    return out;
  }

  dropped(clientId: string): Outbound[] { return this.refused ? [] : this.inner.dropped(clientId); }
  expire(): Outbound[] { return this.refused ? [] : this.inner.expire(); }

  outcome(): AggregationOutcome {
    if (this.refused) return { status: 'aborted', reason: this.refused };
    if (this.final) return this.final;
    const o = this.inner.outcome();
    if (o.status !== 'done') return o;
    const n = o.contributors.length;
    const mean = noiseCentralMean(o.mean, n, this.opts.clipNorm, this.opts.noiseMultiplier, this.opts.normal ?? gaussianSource());
    const spent = this.opts.accountant.record(this.opts.samplingRate, this.opts.noiseMultiplier);
    this.final = {
      ...o, mean, totalWeight: n,
      metrics: {
        ...o.metrics, dpEpsilon: spent.epsilon, dpDelta: spent.delta, dpNoiseMultiplier: this.opts.noiseMultiplier,
        dpClippedFraction: this.seen > 0 ? this.clipped / this.seen : 0,
      },
    };
    return this.final;
  }
}
