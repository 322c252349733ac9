import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { FusedAdam } from '../../shared/model/adam.js';
import { initBackend } from '../../shared/tf/backend.js';

/** Three Adam steps on a small least-squares problem; returns the final weights. */
function run(useFused: boolean): Float32Array[] {
  const init = [tf.tensor2d([[0.5, -1], [2, 0.1], [0, 0.3]]), tf.tensor1d([0.2, -0.4])];
  const [w1, w2] = init.map((t) => tf.variable(t)) as [tf.Variable, tf.Variable];
  tf.dispose(init);
  const x = tf.tensor2d([[1, 2, 3], [-1, 0.5, 2], [0, 1, -2], [4, 0, 1]]);
  const y = tf.tensor2d([[1, 0], [0, 1], [1, 1], [-2, 3]]);
  const f = () => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w1), w2), y))) as tf.Scalar;
  const fused = new FusedAdam({ learningRate: 0.05 });
  const generic = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
  for (let i = 0; i < 3; i++) {
    if (useFused) fused.minimize(f, [w1, w2]);
    else generic.minimize(f, true, [w1, w2])?.dispose();
  }
  const out = [w1.dataSync().slice(), w2.dataSync().slice()] as Float32Array[];
  fused.dispose();
  generic.dispose();
  tf.dispose([w1, w2, x, y]);
  return out;
}

describe('FusedAdam', () => {
  before(async () => { await initBackend('wasm'); });
  after(async () => { await tf.setBackend('wasm'); });

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`matches tf.train.adam (eps 1e-8) on ${backend} and leaks no tensors`, async () => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const a = run(true);
      const b = run(false);
      expect(tf.memory().numTensors).to.equal(before);
      a.forEach((w, i) => w.forEach((x, j) => expect(x).to.be.closeTo(b[i]![j]!, 1e-5))); // tfjs keeps 1-β₂ᵗ in float32
      expect(a[0]![0]).to.not.be.closeTo(0.5, 1e-3); // it moved
    });
  }
});
