import { FedProfileError } from '../errors.js';
import { isStatisticWeight } from '../model/next-item-statistics.js';
import type { WeightSpec } from '../weights/manifest.js';

/**
 * The positions of a flat vector that a lossy codec must not touch, and how to take them out and put them
 * back. The federated statistics (`stats/*`) are counts over each client's weight: q8's per-chunk step
 * ((max − min)/255 of a chunk whose few large counts set the range) rounds most of the table to noise, and
 * they travel in few rounds, so error feedback never gets to send the error back. They go as float32 beside
 * the compressed rest.
 */
export class ExactPart {
  readonly exactCount: number;
  private readonly ranges: ReadonlyArray<readonly [number, number]>;

  private constructor(readonly length: number, ranges: Array<[number, number]>) {
    this.ranges = ranges;
    this.exactCount = ranges.reduce((n, [a, b]) => n + b - a, 0);
  }

  /** The statistics weights among `specs` (in vector order); null when there are none. */
  static statistics(specs: ReadonlyArray<Pick<WeightSpec, 'name' | 'shape'>>): ExactPart | null {
    const ranges: Array<[number, number]> = [];
    let at = 0;
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (isStatisticWeight(s.name)) {
        const last = ranges.at(-1);
        if (last && last[1] === at) last[1] = at + n;
        else ranges.push([at, at + n]);
      }
      at += n;
    }
    return ranges.length === 0 ? null : new ExactPart(at, ranges);
  }

  /** The exact [from, to) ranges, in vector order. */
  get exactRanges(): ReadonlyArray<readonly [number, number]> { return this.ranges; }

  /**
   * From ranges as exactRanges gives them (the fit instruction carries them to clients); throws naming
   * the problem when they are not sorted, disjoint [start, end) pairs inside the vector.
   */
  static fromRanges(length: number, ranges: ReadonlyArray<readonly [number, number]>): ExactPart {
    let last = 0;
    for (const [a, b] of ranges) {
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < last || b <= a || b > length) {
        throw new FedProfileError('BAD_INPUT', `exact ranges must be sorted, disjoint [start, end) pairs within ${length} values; got [${a}, ${b}]`);
      }
      last = b;
    }
    return new ExactPart(length, ranges.map(([a, b]) => [a, b]));
  }

  /** The values at the exact positions, in order. */
  exact(v: Float32Array): Float32Array {
    this.check(v);
    const out = new Float32Array(this.exactCount);
    let o = 0;
    for (const [a, b] of this.ranges) {
      out.set(v.subarray(a, b), o);
      o += b - a;
    }
    return out;
  }

  /** The whole vector from its lossy part and the exact values (as exact() laid them out). */
  assemble(lossy: Float32Array, exactValues: Float32Array): Float32Array {
    if (exactValues.length !== this.exactCount) throw new FedProfileError('BAD_INPUT', `exact part has ${exactValues.length} values, expected ${this.exactCount}`);
    const full = new Float32Array(this.length);
    let o = 0;
    for (const [a, b] of this.ranges) {
      full.set(exactValues.subarray(o, o + b - a), a);
      o += b - a;
    }
    return this.fillLossy(full, lossy);
  }

  /** Float32 bytes of the exact part. */
  get exactBytes(): number { return 4 * this.exactCount; }

  /** The values outside the exact ranges, in order (what the lossy codec gets). */
  lossy(v: Float32Array): Float32Array {
    this.check(v);
    const out = new Float32Array(this.length - this.exactCount);
    let from = 0;
    let o = 0;
    for (const [a, b] of this.ranges) {
      out.set(v.subarray(from, a), o);
      o += a - from;
      from = b;
    }
    out.set(v.subarray(from), o);
    return out;
  }

  /** `exactFrom` at the exact positions and `lossy` (as lossy() laid it out) everywhere else. */
  join(lossy: Float32Array, exactFrom: Float32Array): Float32Array {
    this.check(exactFrom);
    return this.fillLossy(exactFrom.slice(), lossy);
  }

  /** Writes `lossy` (as lossy() laid it out) into `out` outside the exact ranges; returns `out`. */
  private fillLossy(out: Float32Array, lossy: Float32Array): Float32Array {
    if (lossy.length !== this.length - this.exactCount) throw new FedProfileError('BAD_INPUT', `lossy part has ${lossy.length} values, expected ${this.length - this.exactCount}`);
    let from = 0;
    let o = 0;
    for (const [a, b] of this.ranges) {
      out.set(lossy.subarray(o, o + a - from), from);
      o += a - from;
      from = b;
    }
    out.set(lossy.subarray(o), from);
    return out;
  }

  private check(v: Float32Array): void {
    if (v.length !== this.length) throw new FedProfileError('BAD_INPUT', `vector has ${v.length} values, expected ${this.length}`);
  }
}
