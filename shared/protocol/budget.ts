/**
 * A token bucket of decode work for one connection. Every frame or message costs its byte size plus a
 * fixed overhead (so a flood of tiny messages is limited too); when the bucket is empty, the message is
 * refused before it is parsed. The bucket refills at `ratePerSecond` up to `burst`.
 */
export interface DecodeBudgetOptions {
  /** Work units (bytes) refilled per second. */
  ratePerSecond: number;
  /** Bucket size: the most work accepted at once after a quiet period. */
  burst: number;
  /** Units charged per message on top of its bytes. */
  perMessage?: number;
}

export class DecodeBudget {
  private tokens: number;
  private last: number;
  private readonly perMessage: number;

  constructor(private readonly opts: DecodeBudgetOptions, private readonly now: () => number = () => performance.now()) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst > 0)) throw new RangeError('decode budget rate and burst must be positive');
    this.tokens = opts.burst;
    this.last = now();
    this.perMessage = opts.perMessage ?? 1024;
  }

  /** Charges one message of `bytes`; false (and nothing charged) when the connection is over budget. */
  take(bytes: number): boolean {
    const t = this.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((t - this.last) / 1000) * this.opts.ratePerSecond);
    this.last = t;
    const cost = bytes + this.perMessage;
    if (cost > this.tokens) return false;
    this.tokens -= cost;
    return true;
  }
}
