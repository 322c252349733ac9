import { FedProfileError } from '../../errors.js';
import { weightedMean } from '../mean.js';
import { PLAIN_UPDATE, parsePlainUpdate } from '../plain-session.js';

const FINITE_ONLY = { maxAbs: Number.MAX_VALUE, maxL2Norm: Infinity };
import { type AggregationOutcome, type Outbound, type ServerAggregationSession } from '../seam.js';
import type { RobustAggregation } from './config.js';
import { coordinateMedian, multiKrum, normBoundedMean, trimCount, trimmedMean } from './rules.js';

export interface RobustSessionOptions {
  vectorLength: number;
  minResults: number;
  targetResults?: number;
  maxWeight?: number;
  rule: RobustAggregation;
}

/**
 * Plain-mode aggregation with a robust rule, behind the same seam and wire messages as PlainServerSession
 * (clients are unchanged PlainClientSessions). Unlike the streaming mean it keeps every update until the
 * round closes — O(n·m) memory — because the rules compare updates with each other.
 */
export class RobustServerSession implements ServerAggregationSession {
  private readonly pending = new Set<string>();
  private readonly participants = new Set<string>();
  private readonly received: Array<{ from: string; update: Float32Array; weight: number }> = [];
  private bytesIn = 0;
  private result: AggregationOutcome = { status: 'pending' };
  private _stage: 'idle' | 'collect' | 'done' | 'aborted' = 'idle';

  constructor(private readonly opts: RobustSessionOptions) {
    if (!Number.isInteger(opts.vectorLength) || opts.vectorLength < 0) throw new FedProfileError('BAD_CONFIG', `vectorLength must be a non-negative integer, got ${opts.vectorLength}`);
    if (!Number.isInteger(opts.minResults) || opts.minResults < 1) throw new FedProfileError('BAD_CONFIG', `minResults must be a positive integer, got ${opts.minResults}`);
  }

  get stage(): string { return this._stage; }

  begin(participants: readonly string[]): Outbound[] {
    if (this._stage !== 'idle') throw new FedProfileError('PROTOCOL', 'robust session already begun');
    for (const p of participants) { this.pending.add(p); this.participants.add(p); }
    this._stage = 'collect';
    this.settleIfNothingPending();
    return [];
  }

  handle(from: string, type: string, payload: unknown): Outbound[] {
    if (type !== PLAIN_UPDATE) throw new FedProfileError('PROTOCOL', `plain aggregation does not accept "${type}"`);
    if (!this.participants.has(from)) throw new FedProfileError('PROTOCOL', `client ${from} is not a participant of this round`);
    if (this._stage !== 'collect') throw new FedProfileError('DEADLINE', `update from ${from} arrived after aggregation closed (${this._stage})`);
    if (!this.pending.has(from)) throw new FedProfileError('REPLAY', `client ${from} already sent its update or was dropped`);
    // Finite values only: the robust rules bound outliers themselves, so no magnitude limit is applied here.
    const p = parsePlainUpdate(payload, this.opts.vectorLength, FINITE_ONLY);
    const weight = this.opts.maxWeight !== undefined ? Math.min(p.weight, this.opts.maxWeight) : p.weight;
    this.received.push({ from, update: p.update, weight });
    this.bytesIn += p.update.byteLength;
    this.pending.delete(from);
    if (this.opts.targetResults !== undefined && this.received.length >= this.opts.targetResults) this.finish();
    else this.settleIfNothingPending();
    return [];
  }

  dropped(clientId: string): Outbound[] {
    if (this.pending.delete(clientId)) this.settleIfNothingPending();
    return [];
  }

  expire(): Outbound[] {
    if (this._stage !== 'collect') return [];
    if (this.received.length >= this.opts.minResults) this.finish();
    else this.abort(`quorum not reached: ${this.received.length} of ${this.opts.minResults} required updates before the deadline`);
    return [];
  }

  outcome(): AggregationOutcome { return this.result; }

  private settleIfNothingPending(): void {
    if (this._stage !== 'collect' || this.pending.size > 0) return;
    if (this.received.length >= this.opts.minResults) this.finish();
    else this.abort(`quorum not reached: ${this.received.length} of ${this.opts.minResults} required updates (the others dropped)`);
  }

  private finish(): void {
    const updates = this.received.map((r) => r.update);
    const weights = this.received.map((r) => r.weight);
    const rule = this.opts.rule;
    const metrics: Record<string, number> = { contributors: updates.length, stragglers: this.pending.size, bytesIn: this.bytesIn };
    let mean: Float32Array;
    const contributors = this.received.map((r) => r.from);
    try {
      if (rule.rule === 'median') mean = coordinateMedian(updates);
      else if (rule.rule === 'trimmed-mean') {
        mean = trimmedMean(updates, rule.trimFraction);
        metrics.robustTrimmedPerSide = trimCount(updates.length, rule.trimFraction);
      } else if (rule.rule === 'multi-krum') {
        const r = multiKrum(updates, rule.byzantine, Math.min(rule.select ?? updates.length - rule.byzantine, updates.length));
        mean = r.mean;
        metrics.robustRejected = updates.length - r.selected.length;
        metrics.robustSelected = r.selected.length;
      } else if (rule.rule === 'norm-bound') {
        const r = normBoundedMean(updates, weights, rule.maxNorm);
        mean = r.mean;
        metrics.robustClipped = r.clipped;
      } else mean = weightedMean(this.received.map((r) => ({ values: r.update, weight: r.weight })));
    } catch (e) {
      this.abort(`robust aggregation (${rule.rule}) failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this._stage = 'done';
    // The rules other than mean and norm-bound count every contributor equally (Krum: those it kept).
    const totalWeight = rule.rule === 'mean' || rule.rule === 'none' || rule.rule === 'norm-bound' ? weights.reduce((s, w) => s + w, 0) : metrics.robustSelected ?? contributors.length;
    this.received.length = 0;
    this.result = { status: 'done', mean, totalWeight, contributors, metrics };
  }

  private abort(reason: string): void {
    this._stage = 'aborted';
    this.received.length = 0;
    this.result = { status: 'aborted', reason };
  }
}
