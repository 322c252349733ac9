import * as tf from '@tensorflow/tfjs';
import type { UserExample } from '../data/encoded.js';
import { disposeBatch, toBatch } from '../model/batch.js';
import { HEAD_GATE_WEIGHT, HeadGateSums } from '../model/head-gate.js';
import type { ProfileModel } from '../model/profile-model.js';
import { multiHotToSet } from './scoring.js';

/**
 * This client's head-gate validation sums over `validation`, divided by `weight` (see head-gate.ts), written
 * into the model's gate weight (zeros without validation users: such a client adds nothing to the pooled sums,
 * which it would if it sent back what it received). Returns false when the model has no gate weight.
 */
export function refreshHeadGate(model: ProfileModel, validation: readonly UserExample[], weight: number, batchSize = 64): boolean {
  const target = model.maybeWeight(HEAD_GATE_WEIGHT);
  if (!target || !(weight > 0)) return false;
  const cfg = model.config;
  const C = cfg.categoryVocab;
  const sums = new HeadGateSums();
  for (let start = 0; start < validation.length; start += batchSize) {
    const chunk = validation.slice(start, start + batchSize);
    const batch = toBatch(chunk.map((e) => e.input), cfg);
    try {
      const outs = tf.tidy(() => {
        const { trained, rule } = model.profileHeadParts(batch);
        return [rule.interests, trained.interests, rule.propensity, trained.propensity];
      });
      const [ri, ti, rp, tp] = outs.map((t) => t.dataSync() as Float32Array);
      tf.dispose(outs);
      chunk.forEach((ex, b) => sums.add({
        interestRule: ri!.subarray(b * C, (b + 1) * C),
        interestTrained: ti!.subarray(b * C, (b + 1) * C),
        interestTruth: multiHotToSet(ex.labels.interests),
        propensityRule: rp![b]!,
        propensityTrained: tp![b]!,
        purchased: ex.labels.purchased === 1,
      }));
    } finally {
      disposeBatch(batch);
    }
  }
  const values = tf.tensor(sums.finish(weight), target.shape, 'float32');
  target.assign(values);
  values.dispose();
  return true;
}
