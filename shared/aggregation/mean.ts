import { FedProfileError } from '../errors.js';
import { yieldToEventLoop } from '../event-loop.js';

/*
 * Weighted means of update vectors, accumulated in float64 so the result does not depend on how many
 * clients were summed or in which order beyond float64 rounding, then rounded once to float32.
 */

export interface WeightedUpdate {
  values: Float32Array;
  weight: number;
}

function checkWeight(weight: number, index?: number): void {
  if (!Number.isFinite(weight) || weight < 0) {
    const who = index === undefined ? 'update' : `update #${index}`;
    throw new FedProfileError('BAD_INPUT', `${who} has weight ${weight}; weights must be finite and ≥ 0`, { weight });
  }
}

/** Streaming weighted mean: O(m) memory (one float64 sum), whatever the number of contributors. */
export class MeanAccumulator {
  readonly length: number;
  private readonly sum: Float64Array;
  private weightSum = 0;
  private contributors = 0;

  constructor(length: number) {
    if (!Number.isInteger(length) || length < 0) throw new FedProfileError('BAD_INPUT', `accumulator length must be a non-negative integer, got ${length}`);
    this.length = length;
    this.sum = new Float64Array(length);
  }

  get count(): number {
    return this.contributors;
  }

  get totalWeight(): number {
    return this.weightSum;
  }

  /** Adds weight·values in one go (blocks for the whole vector; use accumulateInChunks for big ones). */
  add(values: Float32Array, weight: number): void {
    this.begin(values, weight);
    assertFiniteRange(values, 0, values.length);
    this.addRange(values, weight, 0, values.length);
    this.finish(weight);
  }

  /** Checks an update's weight and length. Callers of addRange also check finiteness first (assertFiniteRange). */
  begin(values: Float32Array, weight: number): void {
    checkWeight(weight);
    if (values.length !== this.length) {
      throw new FedProfileError('BAD_INPUT', `update has ${values.length} elements, expected ${this.length}`, {
        length: values.length, expected: this.length,
      });
    }
  }

  /** Adds weight·values[from..to). Callers must begin() first and finish() after the last range. */
  addRange(values: Float32Array, weight: number, from: number, to: number): void {
    const sum = this.sum;
    for (let i = from; i < to; i++) sum[i]! += weight * values[i]!;
  }

  finish(weight: number): void {
    this.weightSum += weight;
    this.contributors++;
  }

  /** Σ wᵢ·xᵢ / Σ wᵢ as float32. */
  result(): Float32Array {
    const out = new Float32Array(this.length);
    this.resultRange(out, 0, this.length);
    return out;
  }

  /** Writes the mean of elements [from, to) into `out`, for chunked finishing. */
  resultRange(out: Float32Array, from: number, to: number): void {
    if (this.weightSum <= 0) {
      throw new FedProfileError('QUORUM', `cannot average: total weight is ${this.weightSum} over ${this.contributors} update(s)`);
    }
    const sum = this.sum;
    const total = this.weightSum;
    // Divide (not multiply by 1/total) so the result is the correctly rounded quotient.
    for (let i = from; i < to; i++) out[i] = sum[i]! / total;
  }

  /** Raw float64 weighted sum (no division), e.g. for central DP noise before dividing. */
  weightedSum(): Float64Array {
    return this.sum.slice();
  }
}

/** A NaN or ±Inf from one client would poison the whole aggregate: reject the update instead. */
export function assertFiniteRange(values: Float32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const x = values[i]!;
    if (x - x !== 0) throw new FedProfileError('BAD_INPUT', `update has a non-finite value (${x}) at index ${i}`, { index: i });
  }
}

export function weightedMean(updates: readonly WeightedUpdate[]): Float32Array {
  if (updates.length === 0) throw new FedProfileError('QUORUM', 'cannot average zero updates');
  updates.forEach((u, i) => checkWeight(u.weight, i));
  const acc = new MeanAccumulator(updates[0]!.values.length);
  for (const u of updates) acc.add(u.values, u.weight);
  return acc.result();
}

export const DEFAULT_YIELD_EVERY = 1 << 18;


/** acc.result() in chunks: the final division over 10M elements is itself ~20 ms. */
export async function resultInChunks(acc: MeanAccumulator, yieldEvery: number = DEFAULT_YIELD_EVERY): Promise<Float32Array> {
  const out = new Float32Array(acc.length);
  if (acc.length === 0) acc.resultRange(out, 0, 0); // still reports a zero total weight
  for (let from = 0; from < out.length; from += yieldEvery) {
    acc.resultRange(out, from, Math.min(out.length, from + yieldEvery));
    await yieldToEventLoop();
  }
  return out;
}
