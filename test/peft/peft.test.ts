import { expect } from 'chai';
import { FedProfileError } from '../../shared/errors.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { isPeftTrainable, PeftSlice } from '../../shared/peft/index.js';
import { initBackend } from '../../shared/tf/index.js';
import { trainLocal } from '../../shared/training/trainer.js';
import { flattenTensors } from '../../shared/weights/flatten.js';
import { computeDelta } from '../../shared/weights/delta.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import { TINY, cycleExamples } from '../training/fixtures.js';

const flat = (m: ProfileModel) => flattenTensors(m.weights.map((w) => ({ name: w.name, tensor: w.variable })));

describe('PEFT (BitFit and heads-only)', function () {
  this.timeout(60_000);
  before(async () => { await initBackend(); });

  it('selects biases, LayerNorm parameters and heads; embeddings and kernels stay frozen', () => {
    expect(isPeftTrainable('layer0/attn/qkv/bias', 'bitfit')).to.equal(true);
    expect(isPeftTrainable('layer0/ln1/gamma', 'bitfit')).to.equal(true);
    expect(isPeftTrainable('embed/ln/beta', 'bitfit')).to.equal(true);
    expect(isPeftTrainable('head/tier/kernel', 'bitfit')).to.equal(true);
    expect(isPeftTrainable('layer0/attn/qkv/kernel', 'bitfit')).to.equal(false);
    expect(isPeftTrainable('embed/item', 'bitfit')).to.equal(false);
    expect(isPeftTrainable('layer0/ln1/gamma', 'heads')).to.equal(false);
  });

  it('cuts the slice out of a flat vector and puts it back exactly', () => {
    const manifest: WeightManifest = {
      specs: [
        { name: 'embed/item', shape: [2, 2], dtype: 'float32' }, { name: 'layer0/x/bias', shape: [2], dtype: 'float32' },
        { name: 'layer0/x/kernel', shape: [1], dtype: 'float32' }, { name: 'head/a/kernel', shape: [3], dtype: 'float32' },
      ],
      totalSize: 10,
    };
    const s = new PeftSlice(manifest, 'bitfit');
    expect(s.size).to.equal(5);
    const full = Float32Array.from({ length: 10 }, (_, i) => i);
    expect(Array.from(s.extract(full))).to.deep.equal([4, 5, 7, 8, 9]);
    expect(Array.from(s.scatter(Float32Array.of(1, 2, 3, 4, 5)))).to.deep.equal([0, 0, 0, 0, 1, 2, 0, 3, 4, 5]);
    expect(Array.from(s.scatter(Float32Array.of(1, 2, 3, 4, 5), full))).to.deep.equal([0, 1, 2, 3, 1, 2, 6, 3, 4, 5]);
    expect(() => s.scatter(new Float32Array(4))).to.throw(FedProfileError, /expected 5/);
    expect(() => new PeftSlice({ specs: [{ name: 'embed/item', shape: [2], dtype: 'float32' }], totalSize: 2 }, 'heads')).to.throw(/selects no weights/);
  });

  it('training with trainOnly leaves every frozen weight bit-identical and moves the slice', () => {
    const model = ProfileModel.create(TINY, 3);
    const before = flat(model);
    const slice = new PeftSlice(before.manifest, 'bitfit');
    trainLocal(model, { train: cycleExamples(32, TINY, 'peft') }, {
      round: 1, phase: 'finetune', localEpochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', seed: 5, trainOnly: slice.names,
    });
    const delta = computeDelta(flat(model).values, before.values);
    const inSlice = slice.extract(delta);
    const mask = slice.scatter(new Float32Array(slice.size).fill(1));
    const outside = delta.filter((_, i) => mask[i] === 0);
    expect(outside.every((x) => x === 0)).to.equal(true);
    expect(inSlice.some((x) => x !== 0)).to.equal(true);
    expect(slice.size / before.manifest.totalSize).to.be.below(0.2);
  });
});
