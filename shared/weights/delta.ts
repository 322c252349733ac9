import { FedProfileError } from '../errors.js';

function assertSameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) {
    throw new FedProfileError('BAD_INPUT', `${what}: vectors have different lengths (${a.length} vs ${b.length})`, {
      lengths: [a.length, b.length],
    });
  }
}

/** next − base, element-wise: what a client sends instead of its full weights. */
export function computeDelta(next: Float32Array, base: Float32Array): Float32Array {
  assertSameLength(next, base, 'computeDelta');
  const out = new Float32Array(next.length);
  for (let i = 0; i < next.length; i++) out[i] = next[i]! - base[i]!;
  return out;
}

/** base + scale·delta, element-wise (float64 arithmetic, one rounding to float32). */
export function applyDelta(base: Float32Array, delta: Float32Array, scale = 1): Float32Array {
  assertSameLength(base, delta, 'applyDelta');
  const out = new Float32Array(base.length);
  for (let i = 0; i < base.length; i++) out[i] = base[i]! + scale * delta[i]!;
  return out;
}

/** Euclidean norm, accumulated in float64 so a 10M-element vector does not lose precision. */
export function l2Norm(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  return Math.sqrt(sum);
}
