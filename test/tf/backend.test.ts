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

  it('leaves no emscripten process-wide error handlers behind', () => {
    const sources = [...process.listeners('uncaughtException'), ...process.listeners('unhandledRejection')].map(String);
    expect(sources.some((src) => src.includes('ExitStatus'))).to.equal(false);
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

  it('slices and splits of any rank on wasm match cpu', async () => {
    await expectSameOnWasmAndCpu(() => {
      const x = tf.reshape(tf.range(0, 3 * 4 * 5 * 2 * 3, 1, 'float32'), [3, 4, 5, 2, 3]);
      const m = tf.reshape(tf.range(0, 7 * 9, 1, 'float32'), [7, 9]);
      return [
        tf.slice(x, [1, 0, 0, 0, 0], [2, -1, -1, -1, -1]), // contiguous
        tf.slice(x, [0, 1, 2, 1, 1], [3, 2, 3, 1, 2]), // strided, rank 5
        tf.slice(m, [2, 3], [4, 5]),
        tf.slice(tf.range(0, 10, 1, 'float32'), [4], [3]),
        ...tf.split(tf.reshape(x, [3, 4, 30]), [1, 3], 1),
        ...tf.split(x, 3, 0),
        ...tf.split(m, [2, 0, 7], 1),
      ];
    }, 1e-7);
  });

  it('gather along any axis on wasm matches cpu, and out-of-range indices fail', async () => {
    await expectSameOnWasmAndCpu(() => {
      const x = tf.reshape(tf.range(0, 4 * 5 * 3, 1, 'float32'), [4, 5, 3]);
      const i2 = tf.tensor2d([[0, 4], [2, 2]], [2, 2], 'int32');
      return [tf.gather(x, tf.tensor1d([3, 0, 3], 'int32')), tf.gather(x, i2, 1), tf.gather(x, tf.tensor1d([2, 1], 'int32'), 2)];
    }, 1e-7);
    expect(() => tf.tidy(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([3], 'int32')))).to.throw(/index value 3/);
  });

  it('clones share data safely: disposing the source or reassigning a variable leaves the clone intact', () => {
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(b.dataSync())).to.deep.equal([1, 2, 3]);
    const v = tf.variable(tf.tensor1d([1, 2]));
    const c = v.clone();
    v.assign(tf.tensor1d([5, 6]));
    expect(Array.from(c.dataSync())).to.deep.equal([1, 2]);
    expect(Array.from(v.dataSync())).to.deep.equal([5, 6]);
    tf.dispose([b, c, v]);
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
