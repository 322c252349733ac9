import * as tf from '@tensorflow/tfjs';
import { FedProfileError } from '../errors.js';
import type { WeightManifest } from '../weights/manifest.js';
import type { ModelConfig } from './config.js';
import { ProfileModel, weightSpecs } from './profile-model.js';

/** Manifest of a config's weights, in the model's fixed order. */
export function modelManifest(cfg: ModelConfig): WeightManifest {
  const specs = weightSpecs(cfg).map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' as const }));
  return { specs, totalSize: specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0) };
}

/** The round-0 global model: deterministic from (config, seed), flattened in weight order. */
export async function initialGlobalWeights(cfg: ModelConfig, seed: number): Promise<{ manifest: WeightManifest; values: Float32Array }> {
  const model = ProfileModel.create(cfg, seed);
  try {
    const manifest = modelManifest(cfg);
    const values = new Float32Array(manifest.totalSize);
    let off = 0;
    for (const w of model.weights) {
      const data = (await w.variable.data()) as Float32Array;
      values.set(data, off);
      off += data.length;
    }
    return { manifest, values };
  } finally {
    model.dispose();
  }
}

/** Copies a flat vector (manifest order) into the model's variables. */
export function loadFlatWeights(model: ProfileModel, values: Float32Array): void {
  const total = model.weights.reduce((n, w) => n + w.variable.size, 0);
  if (values.length !== total) {
    throw new FedProfileError('BAD_INPUT', `Flat weights have ${values.length} values, the model needs ${total}.`);
  }
  let off = 0;
  const tensors = model.weights.map((w) => {
    const t = tf.tensor(values.subarray(off, off + w.variable.size), w.variable.shape, 'float32');
    off += w.variable.size;
    return t;
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
}
