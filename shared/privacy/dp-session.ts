import { FedProfileError } from '../errors.js';
import { PLAIN_UPDATE } from '../aggregation/plain-session.js';
import type { AggregationOutcome, Outbound, ServerAggregationSession } from '../aggregation/seam.js';
import type { RdpAccountant } from './accountant.js';
import { clipL2 } from './clip.js';
import { effectiveNoiseMultiplier, noiseCentralMean, type DpMode } from './dp-fedavg.js';
import { gaussianSource } from './noise.js';

export interface CentralDpOptions {
  clipNorm: number;
  noiseMultiplier: number;
  /** Sampling rate of this round (planned cohort / eligible clients), for the accountant. */
  samplingRate: number;
  /** The federation's accountant: it outlives the round. */
  accountant: RdpAccountant;
  /**
   * central (default): this session noises the mean; distributed: the clients already added their shares,
   * so it only charges the accountant with the noise that the contributors' shares add up to.
   */
  mode?: DpMode;
  /** Distributed mode: contributors whose shares add up to the full z·C (default: the participants). */
  plannedContributors?: number;
  /** Worst-case L2 shift of one client's vector by fixed-point rounding (SecAgg); 0 in plain mode. */
  roundingL2?: number;
  /** Standard normal source; the default draws from the OS CSPRNG. */
  normal?: () => number;
}

/**
 * DP-FedAvg around an aggregation session (plain or SecAgg+). Each plain update is weighted 1 (and, in
 * central mode, clipped to L2 norm ≤ C again: the coordinator cannot trust a client to have clipped);
 * SecAgg messages pass through, the clients having clipped (and in distributed mode noised) before masking.
 * Central mode adds N(0, (zC/n)²) to the finished mean. Either way the round is charged to the accountant
 * with the noise multiplier it achieved (fewer distributed contributors than planned = less noise; fixed-point
 * rounding widens the sensitivity), and the outcome carries dpEpsilon / dpDelta / dpSamplingRate /
 * dpNoiseMultiplier, so round metrics (API, dashboard, /metrics) show ε, and a restart can replay them.
 * A round that would take ε past the budget aborts at begin() with the reason, before any update is sent.
 * The inner session must be created with maxWeight ≥ 1 (weights are all 1 here).
 */
export class CentralDpServerSession implements ServerAggregationSession {
  private clipped = 0;
  private seen = 0;
  private participants = 0;
  private final: AggregationOutcome | undefined;
  private refused: string | undefined;

  constructor(private readonly inner: ServerAggregationSession, private readonly opts: CentralDpOptions) {
    if (!(opts.clipNorm > 0) || !(opts.noiseMultiplier > 0)) throw new FedProfileError('BAD_CONFIG', 'DP needs clipNorm > 0 and noiseMultiplier > 0');
  }

  private get mode(): DpMode { return this.opts.mode ?? 'central'; }

  get stage(): string { return this.refused ? 'aborted' : this.inner.stage; }

  begin(participants: readonly string[]): Outbound[] {
    this.participants = participants.length;
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
    if (this.mode === 'distributed') return this.inner.handle(from, type, { update: p.update, weight: 1 });
    // clipL2 rejects non-finite updates with BAD_INPUT, as the inner session would.
    const c = clipL2(p.update, this.opts.clipNorm);
    const out = this.inner.handle(from, type, { update: c.values, weight: 1 });
    this.seen++;
    // Real clients clip before sending (float32 leaves their norm within ~1e-7 of C): what counts here is an
    // update that arrived unclipped, i.e. a client that skipped the clipping it was asked for.
    if (c.norm > this.opts.clipNorm * (1 + 1e-5)) this.clipped++;
    return out;
  }

  dropped(clientId: string): Outbound[] { return this.refused ? [] : this.inner.dropped(clientId); }
  expire(): Outbound[] { return this.refused ? [] : this.inner.expire(); }
  close(): void { this.inner.close?.(); }

  outcome(): AggregationOutcome {
    if (this.refused) return { status: 'aborted', reason: this.refused };
    if (this.final) return this.final;
    const o = this.inner.outcome();
    if (o.status !== 'done') return o;
    const n = o.contributors.length;
    const mean = this.mode === 'central'
      ? noiseCentralMean(o.mean, n, this.opts.clipNorm, this.opts.noiseMultiplier, this.opts.normal ?? gaussianSource())
      : o.mean;
    const sigma = effectiveNoiseMultiplier({
      mode: this.mode, clipNorm: this.opts.clipNorm, noiseMultiplier: this.opts.noiseMultiplier, contributors: n,
      plannedContributors: this.opts.plannedContributors ?? Math.max(this.participants, 1), roundingL2: this.opts.roundingL2,
    });
    const spent = this.opts.accountant.record(this.opts.samplingRate, sigma);
    const metrics: Record<string, number> = {
      ...o.metrics, dpEpsilon: spent.epsilon, dpDelta: spent.delta, dpNoiseMultiplier: sigma, dpSamplingRate: this.opts.samplingRate,
    };
    if (this.seen > 0) metrics.dpUnclippedArrivals = this.clipped / this.seen;
    this.final = { ...o, mean, totalWeight: n, metrics };
    return this.final;
  }
}
