import { z } from 'zod';
import { FedProfileError } from '../errors.js';

/**
 * Limits every plain update must meet before it is summed, and the aggregate before it is committed. An
 * update of 3e38 in every coordinate is finite, yet it overflows the sum (or, weight-capped, drags the
 * global model to 3e38); these bounds refuse it at the door. Defaults are generous for model deltas
 * (honest deltas are orders of magnitude smaller) and can be raised per federation.
 */
export const UpdateBoundsSchema = z.strictObject({
  /** Largest |value| of any coordinate of an update. */
  maxAbs: z.number().positive().finite().default(1e3),
  /** Largest L2 norm of an update. */
  maxL2Norm: z.number().positive().finite().default(1e5),
  /** Per-client weight cap (example count) applied even when the strategy sets no maxExamples. */
  maxWeight: z.number().int().min(1).max(0xffffffff).default(1_000_000),
  /** Largest |value| of any coordinate of the aggregated global model; a round producing more fails. */
  maxModelAbs: z.number().positive().finite().default(1e4),
});
export type UpdateBounds = z.output<typeof UpdateBoundsSchema>;
export const DEFAULT_UPDATE_BOUNDS: UpdateBounds = UpdateBoundsSchema.parse({});

/** One pass over the update: finite, every |value| ≤ maxAbs, L2 norm ≤ maxL2Norm. Throws BAD_INPUT naming the first violation. */
export function checkUpdate(values: Float32Array, bounds: Pick<UpdateBounds, 'maxAbs' | 'maxL2Norm'>): { l2: number; maxAbs: number } {
  // The pass every honest update takes runs on the socket event loop, so it has no branch that can throw:
  // NaN propagates into the sum of squares and ±Infinity into the peak, and the rare bad update is
  // located by a second pass that names the first offending index.
  let sumSq = 0;
  let peak = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    sumSq += v * v;
    const a = v < 0 ? -v : v;
    peak = a > peak ? a : peak;
  }
  if (!(peak <= bounds.maxAbs) || Number.isNaN(sumSq)) throwFirstOutOfBounds(values, bounds.maxAbs);
  const l2 = Math.sqrt(sumSq);
  if (l2 > bounds.maxL2Norm) {
    throw new FedProfileError('BAD_INPUT', `update rejected: L2 norm ${l2.toPrecision(6)} exceeds maxL2Norm ${bounds.maxL2Norm}`, { l2, maxL2Norm: bounds.maxL2Norm });
  }
  return { l2, maxAbs: peak };
}

function throwFirstOutOfBounds(values: Float32Array, maxAbs: number): never {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // `!(a <= limit)` is also true for NaN; ±Infinity fails the bound too.
    if (!((v < 0 ? -v : v) <= maxAbs)) {
      const what = Number.isFinite(v) ? `|value| ${Math.abs(v)} exceeds maxAbs ${maxAbs}` : `non-finite value ${v}`;
      throw new FedProfileError('BAD_INPUT', `update rejected: ${what} at index ${i}`, { index: i, value: String(v), maxAbs });
    }
  }
  throw new FedProfileError('INTERNAL', 'update bounds: no offending value found on the second pass');
}

/**
 * The global model a round would commit: every value finite and |value| ≤ maxModelAbs. Throws INTEGRITY
 * naming the first bad coordinate, so the round fails with that reason and the previous model stays.
 */
export function checkAggregate(values: Float32Array, maxModelAbs: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!((v < 0 ? -v : v) <= maxModelAbs)) {
      const what = Number.isFinite(v) ? `|value| ${Math.abs(v)} exceeds maxModelAbs ${maxModelAbs}` : `non-finite value ${v}`;
      throw new FedProfileError('INTEGRITY', `aggregate rejected before commit: ${what} at index ${i}; the previous model stays`,
        { index: i, value: String(v), maxModelAbs });
    }
  }
}
