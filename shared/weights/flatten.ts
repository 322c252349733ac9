import * as tf from '@tensorflow/tfjs';
import { FedProfileError } from '../errors.js';
import type { WeightManifest } from './manifest.js';
import { assertVectorMatches, buildManifest, specSize, validateManifest } from './layout.js';

export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Copies named tensors, in the given order, into one Float32Array plus the manifest that describes it. */
export function flattenTensors(named: readonly NamedTensor[]): { manifest: WeightManifest; values: Float32Array } {
  for (const { name, tensor } of named) {
    if (tensor.dtype !== 'float32') {
      throw new FedProfileError('BAD_INPUT', `weight "${name}" is ${tensor.dtype}; only float32 weights can be flattened`);
    }
  }
  const manifest = buildManifest(named.map(({ name, tensor }) => ({ name, shape: tensor.shape })));
  const values = new Float32Array(manifest.totalSize);
  let at = 0;
  for (const { tensor } of named) {
    const data = tensor.dataSync() as Float32Array;
    values.set(data, at);
    at += data.length;
  }
  return { manifest, values };
}

/** Rebuilds tensors in manifest order. The caller owns (and must dispose) the returned tensors. */
export function unflattenToTensors(manifest: WeightManifest, values: Float32Array): tf.Tensor[] {
  validateManifest(manifest);
  assertVectorMatches(manifest, values);
  const tensors: tf.Tensor[] = [];
  let at = 0;
  for (const s of manifest.specs) {
    const n = specSize(s.shape);
    // slice() copies, so later edits to the flat vector never alias into live tensors.
    tensors.push(tf.tensor(values.slice(at, at + n), s.shape, 'float32'));
    at += n;
  }
  return tensors;
}
