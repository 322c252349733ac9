import * as tf from '@tensorflow/tfjs';
import type { UserExample } from '../data/encoded.js';
import type { ProfileModel } from '../model/profile-model.js';
import type { OptimizerStep } from '../model/train-step.js';
import type { SharedStep } from './allreduce.js';
import { derivedSeed, stepInputs, type ObjectiveOptions } from './step-inputs.js';

/**
 * One participant's part of a data-parallel step: the gradient of its shard's share of the batch objective
 * into its slot, the all-reduce, and the optimiser update with the summed gradient. Every participant applies
 * the same summed gradient to the same weights with the same optimiser, so the replicas stay bit-identical.
 * `extra` (the FedProx term) is added by rank 0 only. Returns the batch loss (sum of the shards' shares).
 */
export function parallelStep(
  shared: SharedStep, model: ProfileModel, vars: readonly tf.Variable[], optimizer: OptimizerStep,
  batch: readonly UserExample[], opts: ObjectiveOptions, maskSeed: string, dropoutSeed: number,
  extra?: () => tf.Scalar, stallMs?: number,
): number {
  const rank = shared.rank;
  const slot = shared.slot(rank);
  // Rank 0 keeps the step's own dropout stream; the others draw their own (same-shaped shards would
  // otherwise share dropout masks).
  const seed = rank === 0 ? dropoutSeed : derivedSeed(dropoutSeed, 4, rank);
  try {
    const inputs = stepInputs(model, batch, opts, maskSeed, { index: rank, count: shared.layout.participants });
    try {
      if (inputs.hasLoss || extra !== undefined) {
        const { value, grads } = tf.variableGrads(() => {
          const parts: tf.Scalar[] = [];
          if (inputs.hasLoss) parts.push(inputs.loss(true, seed));
          if (extra !== undefined) parts.push(extra());
          return (parts.length === 1 ? parts[0]! : tf.addN(parts)) as tf.Scalar;
        }, vars as tf.Variable[]);
        shared.losses[rank] = value.dataSync()[0]!;
        value.dispose();
        let off = 0;
        for (const v of vars) {
          const g = grads[v.name];
          if (g === undefined) slot.fill(0, off, off + v.size);
          else slot.set(g.dataSync() as Float32Array, off);
          off += v.size;
        }
        tf.dispose(Object.values(grads));
      } else {
        slot.fill(0);
        shared.losses[rank] = 0;
      }
    } finally {
      inputs.dispose();
    }
  } catch (e) {
    shared.abort(e instanceof Error ? e.message : String(e));
    throw e;
  }
  const loss = shared.allReduce(stallMs);
  const sum = shared.reduced;
  const named: tf.NamedTensorMap = {};
  let off = 0;
  for (const v of vars) {
    named[v.name] = tf.tensor(sum.slice(off, off + v.size), v.shape, 'float32');
    off += v.size;
  }
  optimizer.apply(named);
  return loss;
}
