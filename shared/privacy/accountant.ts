import { FedProfileError } from '../errors.js';
import {
  DEFAULT_ORDERS, epsilonFromRdp, rdpOfScheme, type PrivacySpent, type RdpConversion, type SamplingScheme,
} from './rdp.js';

export interface AccountantOptions {
  sampling: SamplingScheme;
  delta: number;
  /** Stop before a round would take ε past this; unset = no budget. */
  epsilonBudget?: number;
  orders?: readonly number[];
  conversion?: RdpConversion;
}

/** JSON-safe accountant state, for checkpoints. */
export interface AccountantState {
  sampling: SamplingScheme;
  delta: number;
  orders: number[];
  rdp: number[];
  steps: number;
}

/**
 * Composes the RDP of every round (each with its own sampling rate and effective noise multiplier) and
 * answers what has been spent and whether one more round still fits the budget. Per-step RDP vectors are
 * cached by (q, σ): the fixed-size bound costs O(α²) per order.
 */
export class RdpAccountant {
  readonly orders: readonly number[];
  private readonly rdp: Float64Array;
  private steps = 0;
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly opts: AccountantOptions) {
    if (!(opts.delta > 0 && opts.delta < 1)) throw new FedProfileError('BAD_CONFIG', `dp.delta must be in (0, 1), got ${opts.delta}`);
    if (opts.epsilonBudget !== undefined && !(opts.epsilonBudget > 0)) {
      throw new FedProfileError('BAD_CONFIG', `dp.epsilonBudget must be > 0, got ${opts.epsilonBudget}`);
    }
    this.orders = opts.orders ?? DEFAULT_ORDERS;
    this.rdp = new Float64Array(this.orders.length);
  }

  get rounds(): number { return this.steps; }
  get delta(): number { return this.opts.delta; }
  get budget(): number | undefined { return this.opts.epsilonBudget; }

  private stepRdp(q: number, sigma: number): number[] {
    const key = `${q}/${sigma}`;
    let r = this.cache.get(key);
    if (!r) {
      r = rdpOfScheme(this.opts.sampling, q, sigma, this.orders);
      this.cache.set(key, r);
    }
    return r;
  }

  /** (ε, δ) spent so far (ε = 0 before the first round). */
  spent(): PrivacySpent {
    return epsilonFromRdp(this.orders, [...this.rdp], this.opts.delta, this.opts.conversion);
  }

  /** (ε, δ) if one more round with sampling rate q and noise multiplier σ ran. Nothing is recorded. */
  preview(q: number, sigma: number): PrivacySpent {
    const step = this.stepRdp(q, sigma);
    return epsilonFromRdp(this.orders, [...this.rdp].map((r, i) => r + step[i]!), this.opts.delta, this.opts.conversion);
  }

  /** True when a round with (q, σ) would take ε past the budget. */
  wouldExceed(q: number, sigma: number): boolean {
    return this.opts.epsilonBudget !== undefined && this.preview(q, sigma).epsilon > this.opts.epsilonBudget;
  }

  /** Records a round that released a noised aggregate; returns the new total. */
  record(q: number, sigma: number): PrivacySpent {
    const step = this.stepRdp(q, sigma);
    for (let i = 0; i < step.length; i++) this.rdp[i]! += step[i]!;
    this.steps++;
    return this.spent();
  }

  state(): AccountantState {
    return { sampling: this.opts.sampling, delta: this.opts.delta, orders: [...this.orders], rdp: [...this.rdp], steps: this.steps };
  }

  restore(s: AccountantState): void {
    if (s.sampling !== this.opts.sampling || s.delta !== this.opts.delta || s.orders.length !== this.orders.length
      || s.orders.some((o, i) => o !== this.orders[i]) || s.rdp.length !== this.orders.length) {
      throw new FedProfileError('INTEGRITY', 'privacy accountant state does not match the configured sampling, delta and orders');
    }
    if (!s.rdp.every((r) => Number.isFinite(r) && r >= 0) || !Number.isInteger(s.steps) || s.steps < 0) {
      throw new FedProfileError('INTEGRITY', 'privacy accountant state holds invalid RDP values or step count');
    }
    this.rdp.set(s.rdp);
    this.steps = s.steps;
  }
}
