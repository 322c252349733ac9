import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, initBackend, setWasmPatches } from '../../shared/tf/backend.js';
import { FedProfileError } from '../../shared/errors.js';

/** Runs f on the named backend with inputs rebuilt there from plain arrays; returns plain arrays. */
async function on(backend: 'wasm' | 'cpu', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(f).map((t) => {
    const d = t.dataSync() as Float32Array;
    t.dispose();
    return Float32Array.from(d);
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function expectSameOnWasmAndCpu(f: () => tf.Tensor[], tol = 1e-4): Promise<void> {
  const w = await on('wasm', f);
  const c = await on('cpu', f);
  await tf.setBackend('wasm');
  w.forEach((x, i) => expect(maxAbsDiff(x, c[i]!), `output ${i}`).to.be.below(tol));
}

describe('tfjs backend', () => {
  before(async () => { await initBackend('wasm'); });
  after(async () => { await tf.setBackend('wasm'); setWasmPatches(true); });

  it('initialises wasm once with the kernel patches', async () => {
    const a = await initBackend('wasm');
    const b = await initBackend();
    expect(a).to.deep.equal({ name: 'wasm', patched: true });
    expect(b.name).to.equal('wasm');
    expect(currentBackend()).to.equal('wasm');
  });

  it('fails with a BACKEND error when a requested backend is not installed', async function () {
    try {
      await import('@tensorflow/tfjs-node' as string);
      this.skip(); // installed on this host: nothing to test
    } catch { /* expected here */ }
    const err = await initBackend('node').then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(FedProfileError);
    expect((err as FedProfileError).code).to.equal('BACKEND');
    expect((err as FedProfileError).message).to.match(/npm install @tensorflow\/tfjs-node/);
    expect(currentBackend()).to.equal('wasm');
  });

  it('rejects an unknown FEDPROFILE_BACKEND value', async () => {
    const saved = process.env.FEDPROFILE_BACKEND;
    process.env.FEDPROFILE_BACKEND = 'tpu';
    try {
      const err = await initBackend().then(() => undefined, (e: unknown) => e);
      expect((err as FedProfileError).code).to.equal('BACKEND');
      expect((err as FedProfileError).message).to.match(/Unknown backend "tpu"/);
    } finally {
      if (saved === undefined) delete process.env.FEDPROFILE_BACKEND;
      else process.env.FEDPROFILE_BACKEND = saved;
    }
  });

  it('gradient of gather (UnsortedSegmentSum) on wasm matches cpu', async () => {
    await expectSameOnWasmAndCpu(() => {
      const table = tf.randomNormal([30, 8], 0, 1, 'float32', 1);
      const idx = tf.tensor1d([3, 3, 0, 29, 7, 3, 12], 'int32');
      const w = tf.randomNormal([7, 8], 0, 1, 'float32', 2);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, idx), w)))(table);
      return [g];
    });
  });

  it('transposed and batched matmuls and their gradients on wasm match cpu', async () => {
    for (const [ta, tb] of [[false, true], [true, false], [true, true], [false, false]] as const) {
      await expectSameOnWasmAndCpu(() => {
        const a = tf.randomNormal(ta ? [3, 2, 9, 5] : [3, 2, 5, 9], 0, 1, 'float32', 3);
        const b = tf.randomNormal(tb ? [3, 2, 4, 9] : [3, 2, 9, 4], 0, 1, 'float32', 4);
        const w = tf.randomNormal([3, 2, 5, 4], 0, 1, 'float32', 5);
        const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w));
        const [ga, gb] = tf.grads(f)([a, b]);
        return [tf.matMul(a, b, ta, tb), ga!, gb!];
      });
      await expectSameOnWasmAndCpu(() => {
        const a = tf.randomNormal(ta ? [40, 33] : [33, 40], 0, 1, 'float32', 6);
        const b = tf.randomNormal(tb ? [17, 40] : [40, 17], 0, 1, 'float32', 7);
        const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, ta, tb))))([a, b]);
        return [ga!, gb!];
      }, 1e-3 * 40);
    }
  });

  it('column sums and float one-hot on wasm match cpu', async () => {
    await expectSameOnWasmAndCpu(() => {
      const x = tf.randomNormal([37, 6, 5], 0, 1, 'float32', 8);
      const idx = tf.tensor1d([0, 4, 2, 9, -1], 'int32');
      return [tf.sum(x, 0), tf.sum(x, [0, 1], true), tf.sum(x, 1), tf.sum(x, -1), tf.oneHot(idx, 5, 0.5, -2, 'float32')];
    });
  });

  it('the stock kernels can be restored and re-patched', async () => {
    setWasmPatches(false);
    expect((await initBackend('wasm')).patched).to.equal(false);
    const stock = tf.tidy(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([2, 5, 4]), false, true).dataSync());
    setWasmPatches(true);
    expect((await initBackend('wasm')).patched).to.equal(true);
    const fast = tf.tidy(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([2, 5, 4]), false, true).dataSync());
    expect(Array.from(fast)).to.deep.equal(Array.from(stock));
    expect(fast[0]).to.equal(4);
  });
});
