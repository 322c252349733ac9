import { FedProfileError } from '../errors.js';
import { MeanAccumulator, resultInChunks } from './mean.js';
import { checkUpdate, DEFAULT_UPDATE_BOUNDS, type UpdateBounds } from './update-bounds.js';
import type {
  AggregationOutcome, ClientAggregationSession, Outbound, ServerAggregationSession, SessionSettledListener,
} from './seam.js';
import type { RemoteAccumulator } from './vector-worker.js';
import { yieldToEventLoop } from '../event-loop.js';

/**
 * Plain (unmasked) FedAvg behind the Aggregator seam: each participant sends its update and weight in one
 * 'plain/update' message; the server keeps a running weighted sum (float64), so memory is O(m) whatever
 * the number of clients, and each message costs one pass over the vector.
 */
export const PLAIN_UPDATE = 'plain/update';

export interface PlainSessionOptions {
  /** Length every update must have. */
  vectorLength: number;
  /** Quorum: fewer contributions than this at the deadline aborts the round. */
  minResults: number;
  /** Stop collecting once this many updates arrived (over-selection: the rest are stragglers). */
  targetResults?: number;
  /** Per-client weight cap (e.g. maxExamples), so one big client cannot dominate. Default: DEFAULT_UPDATE_BOUNDS.maxWeight. */
  maxWeight?: number;
  /** Per-update value and norm limits checked before summing. Default: DEFAULT_UPDATE_BOUNDS. */
  bounds?: Pick<UpdateBounds, 'maxAbs' | 'maxL2Norm'>;
  /**
   * Accumulate in the background, yielding to the event loop every this many elements, instead of inside
   * handle(): a 10M-parameter update is 100–300 ms of summing. outcome() then stays 'pending' (stage
   * 'aggregating') until the sum and the final division are done, and then `onSettled` is called.
   * Unset: handle() sums synchronously and outcome() is final as soon as the last update is handled.
   */
  yieldEvery?: number;
  /** Background mode: told once the outcome is decided by background work (done, or aborted on failure). */
  onSettled?: SessionSettledListener;
  /**
   * Sum on the aggregation worker instead of this thread (background mode: onSettled is then required).
   * Updates are handed over, buffers transferred, as they arrive; the mean comes back once collection closes.
   */
  accumulator?: RemoteAccumulator;
}

interface PlainUpdatePayload { update: Float32Array; weight: number }

/** Checks one plain/update payload (shape, length, positive weight, bounds); shared by every plain-mode server session. */
export function parsePlainUpdate(payload: unknown, vectorLength: number, bounds: Pick<UpdateBounds, 'maxAbs' | 'maxL2Norm'>): PlainUpdatePayload {
  const p = payload as Partial<PlainUpdatePayload> | null;
  if (!p || typeof p !== 'object') throw new FedProfileError('PROTOCOL', 'plain/update payload must be an object');
  if (!(p.update instanceof Float32Array)) throw new FedProfileError('PROTOCOL', 'plain/update.update must be a Float32Array');
  if (p.update.length !== vectorLength) {
    throw new FedProfileError('BAD_INPUT', `plain/update has ${p.update.length} values, expected ${vectorLength}`,
      { length: p.update.length, expected: vectorLength });
  }
  if (typeof p.weight !== 'number' || !Number.isFinite(p.weight) || p.weight <= 0) {
    throw new FedProfileError('BAD_INPUT', `plain/update.weight must be a positive number, got ${String(p.weight)}`);
  }
  // Checked here, synchronously (≈ 1 ns per value), so a poisoned update is rejected to its sender at once
  // even when the summing happens later in the background: finite, within maxAbs and the L2 norm bound.
  checkUpdate(p.update, bounds);
  return { update: p.update, weight: p.weight };
}


export class PlainServerSession implements ServerAggregationSession {
  private readonly acc: MeanAccumulator;
  private readonly pending = new Set<string>();
  private readonly participants = new Set<string>();
  private readonly contributors: string[] = [];
  private bytesIn = 0;
  private result: AggregationOutcome = { status: 'pending' };
  private _stage: 'idle' | 'collect' | 'aggregating' | 'done' | 'aborted' = 'idle';
  /** Background mode: accepted updates not yet summed, and the loop summing them. */
  private readonly queue: Array<{ update: Float32Array; weight: number }> = [];
  private running: Promise<void> | undefined;
  /** Worker mode: the weights handed over, summed here in the same order as the worker sums them. */
  private remoteWeight = 0;

  constructor(private readonly opts: PlainSessionOptions) {
    if (!Number.isInteger(opts.vectorLength) || opts.vectorLength < 0) {
      throw new FedProfileError('BAD_CONFIG', `vectorLength must be a non-negative integer, got ${opts.vectorLength}`);
    }
    if (!Number.isInteger(opts.minResults) || opts.minResults < 1) {
      throw new FedProfileError('BAD_CONFIG', `minResults must be a positive integer, got ${opts.minResults}`);
    }
    if (opts.accumulator && !opts.onSettled) throw new FedProfileError('BAD_CONFIG', 'a worker accumulator needs onSettled (background mode)');
    if (opts.yieldEvery !== undefined && (!Number.isInteger(opts.yieldEvery) || opts.yieldEvery < 1)) {
      throw new FedProfileError('BAD_CONFIG', `yieldEvery must be a positive integer, got ${opts.yieldEvery}`);
    }
    // With a worker accumulator the float64 sum lives on the worker; this one only checks lengths.
    this.acc = new MeanAccumulator(opts.accumulator ? 0 : opts.vectorLength);
  }

  get stage(): string { return this._stage; }

  begin(participants: readonly string[]): Outbound[] {
    if (this._stage !== 'idle') throw new FedProfileError('PROTOCOL', 'plain session already begun');
    for (const p of participants) { this.pending.add(p); this.participants.add(p); }
    this._stage = 'collect';
    this.settleIfNothingPending();
    return [];
  }

  handle(from: string, type: string, payload: unknown): Outbound[] {
    if (type !== PLAIN_UPDATE) throw new FedProfileError('PROTOCOL', `plain aggregation does not accept "${type}"`);
    if (!this.participants.has(from)) throw new FedProfileError('PROTOCOL', `client ${from} is not a participant of this round`);
    if (this._stage !== 'collect') {
      throw new FedProfileError('DEADLINE', `update from ${from} arrived after aggregation closed (${this._stage})`);
    }
    if (!this.pending.has(from)) throw new FedProfileError('REPLAY', `client ${from} already sent its update or was dropped`);
    const { update, weight } = parsePlainUpdate(payload, this.opts.vectorLength, this.opts.bounds ?? DEFAULT_UPDATE_BOUNDS);
    const w = Math.min(weight, this.opts.maxWeight ?? DEFAULT_UPDATE_BOUNDS.maxWeight);
    this.bytesIn += update.byteLength;
    if (this.opts.accumulator) { this.remoteWeight += w; this.opts.accumulator.add(update, w); }
    else if (this.opts.yieldEvery === undefined) this.acc.add(update, w);
    else { this.queue.push({ update, weight: w }); this.kick(); }
    this.pending.delete(from);
    this.contributors.push(from);
    if (this.opts.targetResults !== undefined && this.contributors.length >= this.opts.targetResults) this.finish();
    else this.settleIfNothingPending();
    return [];
  }

  dropped(clientId: string): Outbound[] {
    if (this.pending.delete(clientId)) this.settleIfNothingPending();
    return [];
  }

  expire(): Outbound[] {
    if (this._stage !== 'collect') return [];
    if (this.contributors.length >= this.opts.minResults) this.finish();
    else this.abort(`quorum not reached: ${this.contributors.length} of ${this.opts.minResults} required updates before the deadline`);
    return [];
  }

  outcome(): AggregationOutcome { return this.result; }

  close(): void {
    if (this._stage === 'collect' || this._stage === 'aggregating') this.abort('the round was closed');
  }

  private settleIfNothingPending(): void {
    if (this._stage !== 'collect' || this.pending.size > 0) return;
    if (this.contributors.length >= this.opts.minResults) this.finish();
    else this.abort(`quorum not reached: ${this.contributors.length} of ${this.opts.minResults} required updates (the others dropped)`);
  }

  private finish(): void {
    const remote = this.opts.accumulator;
    if (remote) {
      this._stage = 'aggregating';
      remote.mean().then(
        (mean) => { if (this._stage === 'aggregating') { this.complete(mean); this.opts.onSettled?.(); } },
        (e: unknown) => {
          if (this._stage !== 'aggregating') return;
          this.abort(`aggregation failed: ${e instanceof Error ? e.message : String(e)}`);
          this.opts.onSettled?.();
        },
      );
      return;
    }
    if (this.opts.yieldEvery !== undefined) {
      // Collection is closed (late updates are refused from here on); the outcome follows the summing.
      this._stage = 'aggregating';
      this.kick();
      return;
    }
    this.complete(this.acc.result());
  }

  private complete(mean: Float32Array): void {
    this._stage = 'done';
    this.result = {
      status: 'done', mean, totalWeight: this.opts.accumulator ? this.remoteWeight : this.acc.totalWeight, contributors: [...this.contributors],
      metrics: { contributors: this.contributors.length, stragglers: this.pending.size, bytesIn: this.bytesIn },
    };
  }

  private hasBackgroundWork(): boolean {
    return this._stage !== 'aborted' && (this.queue.length > 0 || this._stage === 'aggregating');
  }

  private kick(): void {
    if (this.running || !this.hasBackgroundWork()) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      this.kick(); // work queued between the loop's last check and here
    });
  }

  /** Sums queued updates chunk by chunk, then divides chunk by chunk once collection is closed. */
  private async drain(): Promise<void> {
    const every = this.opts.yieldEvery!;
    try {
      while (this.hasBackgroundWork()) {
        const next = this.queue.shift();
        if (next) {
          // Already validated in handle(): begin() re-checks only the length and weight.
          this.acc.begin(next.update, next.weight);
          for (let from = 0; from < next.update.length; from += every) {
            this.acc.addRange(next.update, next.weight, from, Math.min(next.update.length, from + every));
            await yieldToEventLoop();
          }
          this.acc.finish(next.weight);
          continue;
        }
        const mean = await resultInChunks(this.acc, every);
        if (this._stage === 'aggregating') {
          this.complete(mean);
          this.opts.onSettled?.();
        }
      }
    } catch (e) {
      this.abort(`aggregation failed: ${e instanceof Error ? e.message : String(e)}`);
      this.opts.onSettled?.();
    }
  }

  private abort(reason: string): void {
    // A sum still being computed is freed by its mean() reply; any other is freed here.
    if (this.opts.accumulator && this._stage !== 'aggregating') this.opts.accumulator.drop();
    this._stage = 'aborted';
    this.queue.length = 0;
    this.result = { status: 'aborted', reason };
  }
}

export class PlainClientSession implements ClientAggregationSession {
  private submitted = false;
  submit(update: Float32Array, weight: number): Outbound[] {
    if (this.submitted) throw new FedProfileError('PROTOCOL', 'this round\'s update was already submitted');
    this.submitted = true;
    return [{ to: 'server', type: PLAIN_UPDATE, payload: { update, weight } }];
  }
  handle(type: string): Outbound[] {
    throw new FedProfileError('PROTOCOL', `plain aggregation sends no "${type}" messages to clients`);
  }
}
