import { FedProfileError } from '../errors.js';
import { l2Norm } from '../weights/delta.js';

export interface ClipResult {
  values: Float32Array;
  /** Norm before clipping. */
  norm: number;
  /** Factor applied: min(1, maxNorm / norm). */
  scale: number;
  clipped: boolean;
}

/** Scales an update down to L2 norm ≤ maxNorm (never up), bounding one client's influence on the aggregate. */
export function clipL2(values: Float32Array, maxNorm: number): ClipResult {
  if (!Number.isFinite(maxNorm) || maxNorm <= 0) throw new FedProfileError('BAD_CONFIG', `clip norm must be finite and > 0, got ${maxNorm}`);
  const norm = l2Norm(values);
  if (!Number.isFinite(norm)) throw new FedProfileError('BAD_INPUT', 'cannot clip an update with non-finite values');
  if (norm <= maxNorm) return { values: values.slice(), norm, scale: 1, clipped: false };
  const scale = maxNorm / norm;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! * scale;
  return { values: out, norm, scale, clipped: true };
}
