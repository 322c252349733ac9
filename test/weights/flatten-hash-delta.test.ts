import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import {
  applyDelta, buildManifest, computeDelta, flattenTensors, l2Norm, sliceByName, unflattenToTensors, weightsHash,
} from '../../shared/weights/index.js';
import { FedProfileError } from '../../shared/errors.js';
import { useBackend } from './backend-hook.js';

describe('weights: flatten / unflatten', () => {
  useBackend();
  it('round-trips named tensors exactly, in order, with shapes', () => {
    const a = tf.tensor2d([[1.5, -2], [3, 4.25], [1e-30, -7]]);
    const b = tf.tensor1d([0.1, 0.2]);
    const c = tf.scalar(Math.PI);
    const { manifest, values } = flattenTensors([{ name: 'a', tensor: a }, { name: 'b', tensor: b }, { name: 'c', tensor: c }]);
    expect(manifest.totalSize).to.equal(9);
    expect(manifest.specs.map((s) => [s.name, s.shape])).to.deep.equal([['a', [3, 2]], ['b', [2]], ['c', []]]);
    expect(Array.from(values)).to.deep.equal(Array.from(new Float32Array([1.5, -2, 3, 4.25, 1e-30, -7, 0.1, 0.2, Math.PI])));
    const back = unflattenToTensors(manifest, values);
    expect(back.map((t) => t.shape)).to.deep.equal([[3, 2], [2], []]);
    expect(Array.from(back[0]!.dataSync())).to.deep.equal(Array.from(a.dataSync()));
    expect(Array.from(back[1]!.dataSync())).to.deep.equal(Array.from(b.dataSync()));
    expect(back[2]!.dataSync()[0]).to.equal(Math.fround(Math.PI));
    // The rebuilt tensors do not alias the flat vector.
    values[0] = 99;
    expect(back[0]!.dataSync()[0]).to.equal(1.5);
    tf.dispose([a, b, c, ...back]);
  });

  it('slices a named weight as a view', () => {
    const manifest = buildManifest([{ name: 'w', shape: [2, 2] }, { name: 'bias', shape: [3] }]);
    const values = Float32Array.from([1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(sliceByName(manifest, values, 'bias'))).to.deep.equal([5, 6, 7]);
    expect(() => sliceByName(manifest, values, 'nope')).to.throw(FedProfileError, /no weight named "nope"/);
  });

  it('rejects a vector of the wrong length, duplicate names and non-float32 tensors', () => {
    const manifest = buildManifest([{ name: 'w', shape: [2, 3] }]);
    expect(() => unflattenToTensors(manifest, new Float32Array(5))).to.throw(FedProfileError, /5 elements but the manifest expects 6/);
    expect(() => buildManifest([{ name: 'x', shape: [1] }, { name: 'x', shape: [2] }])).to.throw(/duplicate name "x"/);
    expect(() => unflattenToTensors({ ...manifest, totalSize: 7 }, new Float32Array(7))).to.throw(/add up to 6/);
    const t = tf.tensor1d([1, 2], 'int32');
    expect(() => flattenTensors([{ name: 'i', tensor: t }])).to.throw(/int32/);
    t.dispose();
  });
});

describe('weights: content hash', () => {
  const manifest = buildManifest([{ name: 'w', shape: [2, 2] }, { name: 'b', shape: [2] }]);
  const values = Float32Array.from([1, 2, 3, 4, 5, 6]);

  it('is stable: a known SHA-256 and equal for equal content from different objects', async () => {
    const h = await weightsHash(manifest, values);
    expect(h).to.match(/^[0-9a-f]{64}$/);
    const again = await weightsHash(JSON.parse(JSON.stringify(manifest)), values.slice());
    expect(again).to.equal(h);
    // Pinned: a change to the canonical encoding would silently re-address every stored model.
    expect(h).to.equal(await weightsHash(buildManifest([{ name: 'w', shape: [2, 2] }, { name: 'b', shape: [2] }]), new Float32Array([1, 2, 3, 4, 5, 6])));
    expect(h).to.equal(PINNED);
  });

  it('does not depend on the chunk size it yields between', async () => {
    const big = Float32Array.from({ length: 300_001 }, (_, i) => i * 0.5);
    const m = buildManifest([{ name: 'big', shape: [300_001] }]);
    const whole = await weightsHash(m, big, big.byteLength);
    expect(await weightsHash(m, big, 4096)).to.equal(whole);
    expect(await weightsHash(m, big)).to.equal(whole);
  });

  it('changes with one ulp of one value, a name, a shape or the order', async () => {
    const h = await weightsHash(manifest, values);
    const bumped = values.slice();
    new Uint32Array(bumped.buffer)[5]! += 1;
    expect(await weightsHash(manifest, bumped)).to.not.equal(h);
    expect(await weightsHash(buildManifest([{ name: 'W', shape: [2, 2] }, { name: 'b', shape: [2] }]), values)).to.not.equal(h);
    expect(await weightsHash(buildManifest([{ name: 'w', shape: [4] }, { name: 'b', shape: [2] }]), values)).to.not.equal(h);
    expect(await weightsHash(buildManifest([{ name: 'b', shape: [2] }, { name: 'w', shape: [2, 2] }]), values)).to.not.equal(h);
  });
});

// Computed independently: sha256(canonical manifest JSON + NUL + little-endian float32 bytes), Python hashlib.
const PINNED = '687b93e9372af9f1e77e0f85bb00baf44121eb2f7678124339ced1937f7e2589';

describe('weights: delta', () => {
  it('computeDelta then applyDelta restores the weights exactly when they are within 2× (Sterbenz)', () => {
    const base = new Float32Array(1000);
    const next = new Float32Array(1000);
    let s = 1;
    const rnd = (): number => ((s = (s * 48271) % 2147483647) / 2147483647);
    for (let i = 0; i < base.length; i++) {
      base[i] = (rnd() - 0.5) * 2;
      next[i] = base[i]! * (1 + (rnd() - 0.5) * 0.2);
    }
    const delta = computeDelta(next, base);
    expect(Array.from(applyDelta(base, delta))).to.deep.equal(Array.from(next));
  });

  it('scales the delta and computes the L2 norm in float64', () => {
    expect(Array.from(applyDelta(Float32Array.from([1, 2]), Float32Array.from([2, -4]), 0.5))).to.deep.equal([2, 0]);
    expect(l2Norm(Float32Array.from([3, 4]))).to.equal(5);
    expect(l2Norm(new Float32Array(0))).to.equal(0);
    expect(() => computeDelta(new Float32Array(2), new Float32Array(3))).to.throw(FedProfileError, /2 vs 3/);
  });
});
