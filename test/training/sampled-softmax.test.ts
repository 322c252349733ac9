import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { sampledNegatives, sampledTiedSoftmaxCrossEntropy } from '../../shared/model/ops.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { evaluateModel } from '../../shared/training/evaluate.js';
import { trainLocal, type TrainOptions } from '../../shared/training/trainer.js';
import { TINY, cycleExamples } from './fixtures.js';

describe('training: sampled softmax for large catalogues', function () {
  this.timeout(60_000);
  before(async () => { await initBackend(); });

  it('equals the cross-entropy over [target, negatives] by hand, with accidental hits masked', () => {
    const h = tf.tensor2d([[1, 0], [0, 2]]);
    const table = tf.tensor2d([[0, 0], [1, 1], [2, -1], [0.5, 3]]);
    const bias = tf.tensor1d([0, 0.1, -0.2, 0.3]);
    const targets = tf.tensor1d([1, 3], 'int32');
    const negatives = sampledNegatives(Int32Array.from([1, 3]), Int32Array.from([2, 3]));
    const got = sampledTiedSoftmaxCrossEntropy(h, table, bias, targets, negatives).dataSync()[0]!;
    // row 0: h=(1,0): target 1 -> 1.1; negatives 2 -> 1.8, 3 -> 0.8
    const r0 = Math.log(Math.exp(1.1) + Math.exp(1.8) + Math.exp(0.8)) - 1.1;
    // row 1: h=(0,2): target 3 -> 6.3; negative 2 -> -2.2; negative 3 is the target itself (masked)
    const r1 = Math.log(Math.exp(6.3) + Math.exp(-2.2)) - 6.3;
    expect(got).to.be.closeTo((r0 + r1) / 2, 1e-5);
    // The hand-written gradient against autodiff of the same formula.
    const vars = [tf.variable(h), tf.variable(table), tf.variable(bias)] as const;
    const fused = tf.variableGrads(() => sampledTiedSoftmaxCrossEntropy(vars[0], vars[1], vars[2], targets, negatives), [...vars]);
    const plain = tf.variableGrads(() => {
      const logits = tf.concat([
        tf.expandDims(tf.add(tf.sum(tf.mul(vars[0], tf.gather(vars[1], targets)), 1), tf.gather(vars[2], targets)), 1),
        tf.add(tf.add(tf.matMul(vars[0], tf.gather(vars[1], negatives.ids), false, true), tf.gather(vars[2], negatives.ids)), negatives.hitMask),
      ], 1);
      return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.squeeze(tf.slice(logits, [0, 0], [2, 1]), [1]))) as tf.Scalar;
    }, [...vars]);
    expect(plain.value.dataSync()[0]).to.be.closeTo(got, 1e-5);
    for (const v of vars) {
      const a = fused.grads[v.name]!.dataSync();
      const b = plain.grads[v.name]!.dataSync();
      a.forEach((x, i) => expect(x, `${v.name}[${i}]`).to.be.closeTo(b[i]!, 1e-5));
    }
    tf.dispose([h, table, bias, targets, negatives.ids, negatives.hitMask, ...vars, fused.value, plain.value, ...Object.values(fused.grads), ...Object.values(plain.grads)]);
  });

  it('trains next-item ranking to within a measured distance of the full softmax, and rejects a bad count', () => {
    const cfg = { ...TINY, itemVocab: 200 };
    const train = cycleExamples(400, cfg, 'sampled-train', 30);
    const test = cycleExamples(100, cfg, 'sampled-test', 30);
    const opts: TrainOptions = { round: 0, phase: 'pretrain', localEpochs: 6, batchSize: 16, learningRate: 0.02, optimizer: 'adam', seed: 3 };
    const hr10 = (extra?: Partial<TrainOptions>) => {
      const m = ProfileModel.create(cfg, 2);
      try {
        if (extra !== undefined) trainLocal(m, { train }, { ...opts, ...extra });
        return evaluateModel(m, test, { k: 10, seed: 1 }).hr10;
      } finally {
        m.dispose();
      }
    };
    const untrained = hr10();
    const full = hr10({});
    const sampled = hr10({ sampledNegatives: 20 });
    // Measured here: untrained 0.05, full softmax 0.57, 20 sampled negatives of 200 items 0.41.
    expect(full).to.be.greaterThan(untrained + 0.2);
    expect(sampled).to.be.greaterThan(untrained + 0.2);
    expect(sampled).to.be.greaterThan(full - 0.25);
    const m = ProfileModel.create(cfg, 2);
    try {
      expect(() => trainLocal(m, { train }, { ...opts, sampledNegatives: 0 })).to.throw(/sampledNegatives must be an integer >= 1/);
    } finally {
      m.dispose();
    }
  });
});
