import { FedProfileError } from '../errors.js';
import type { WeightManifest, WeightSpec } from './manifest.js';

/** Element count of one weight; a scalar (shape []) holds one element. */
export function specSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Builds a manifest from ordered specs; the order is the order of the flat vector. */
export function buildManifest(specs: readonly { name: string; shape: readonly number[] }[]): WeightManifest {
  const manifest: WeightManifest = {
    specs: specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' as const })),
    totalSize: 0,
  };
  manifest.totalSize = manifest.specs.reduce((sum, s) => sum + specSize(s.shape), 0);
  validateManifest(manifest);
  return manifest;
}

/**
 * Checks a manifest that arrived from disk or the network before anything is sized from it:
 * unique non-empty names, non-negative integer dimensions, float32 only, and a totalSize that matches.
 */
export function validateManifest(manifest: WeightManifest): void {
  if (manifest === null || typeof manifest !== 'object' || !Array.isArray(manifest.specs)) {
    throw new FedProfileError('BAD_INPUT', 'weight manifest must be an object with a specs array');
  }
  const seen = new Set<string>();
  let total = 0;
  manifest.specs.forEach((s: WeightSpec, i) => {
    if (typeof s?.name !== 'string' || s.name.length === 0) {
      throw new FedProfileError('BAD_INPUT', `weight manifest spec #${i} has no name`);
    }
    if (seen.has(s.name)) throw new FedProfileError('BAD_INPUT', `weight manifest has duplicate name "${s.name}"`);
    seen.add(s.name);
    if (s.dtype !== 'float32') {
      throw new FedProfileError('BAD_INPUT', `weight "${s.name}" has dtype ${String(s.dtype)}; only float32 is supported`);
    }
    if (!Array.isArray(s.shape) || !s.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new FedProfileError('BAD_INPUT', `weight "${s.name}" has an invalid shape ${JSON.stringify(s.shape)}`);
    }
    total += specSize(s.shape);
  });
  if (manifest.totalSize !== total) {
    throw new FedProfileError(
      'BAD_INPUT',
      `weight manifest totalSize is ${manifest.totalSize} but its specs add up to ${total}`,
      { totalSize: manifest.totalSize, specsTotal: total },
    );
  }
}

/** Throws unless the flat vector has exactly the manifest's length. */
export function assertVectorMatches(manifest: WeightManifest, values: ArrayLike<number>, what = 'weight vector'): void {
  if (values.length !== manifest.totalSize) {
    throw new FedProfileError(
      'BAD_INPUT',
      `${what} has ${values.length} elements but the manifest expects ${manifest.totalSize}`,
      { length: values.length, expected: manifest.totalSize },
    );
  }
}

/** [start, end) of every weight in the flat vector, by name. */
export function offsets(manifest: WeightManifest): Map<string, { start: number; end: number; shape: number[] }> {
  const out = new Map<string, { start: number; end: number; shape: number[] }>();
  let at = 0;
  for (const s of manifest.specs) {
    const n = specSize(s.shape);
    out.set(s.name, { start: at, end: at + n, shape: s.shape });
    at += n;
  }
  return out;
}

/** A view (no copy) of one named weight inside the flat vector. */
export function sliceByName(manifest: WeightManifest, values: Float32Array, name: string): Float32Array {
  assertVectorMatches(manifest, values);
  const range = offsets(manifest).get(name);
  if (!range) {
    throw new FedProfileError('NOT_FOUND', `no weight named "${name}" in the manifest`, { name });
  }
  return values.subarray(range.start, range.end);
}
