import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { parameterCount } from '../../coordinator/model-limits.js';
import { toBatch } from '../../shared/model/batch.js';
import { ProfileModel, weightSpecs } from '../../shared/model/profile-model.js';
import { isPeftTrainable, PeftSlice } from '../../shared/peft/index.js';
import { initBackend } from '../../shared/tf/index.js';
import { trainLocal } from '../../shared/training/trainer.js';
import { computeDelta } from '../../shared/weights/delta.js';
import { flattenTensors } from '../../shared/weights/flatten.js';
import { TINY, cycleExamples } from '../training/fixtures.js';

const flat = (m: ProfileModel) => flattenTensors(m.weights.map((w) => ({ name: w.name, tensor: w.variable })));
const LORA = { ...TINY, loraRank: 2 };

describe('PEFT: LoRA on the attention and FFN kernels', function () {
  this.timeout(60_000);
  before(async () => { await initBackend(); });

  it('adds A [in, r] and B [r, out] per adapted kernel after every other weight; without a rank the layout is unchanged', () => {
    const plain = weightSpecs(TINY);
    const lora = weightSpecs(LORA);
    expect(weightSpecs({ ...TINY, loraRank: 0 })).to.deep.equal(plain);
    expect(lora.slice(0, plain.length)).to.deep.equal(plain);
    const added = lora.slice(plain.length);
    expect(added.map((s) => s.name)).to.include.members(['block0/attn/qkv/lora_a', 'block0/attn/qkv/lora_b', 'block0/ffn/out/lora_b']);
    expect(added).to.have.length(8 * TINY.layers);
    expect(added.find((s) => s.name === 'block0/attn/qkv/lora_b')!.shape).to.deep.equal([2, 3 * TINY.dModel]);
    expect(added.find((s) => s.name === 'block0/ffn/out/lora_a')!.shape).to.deep.equal([TINY.ffDim, 2]);
    const size = lora.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    expect(parameterCount(LORA)).to.equal(size);
    expect(isPeftTrainable('block0/ffn/in/lora_a', 'lora')).to.equal(true);
    expect(isPeftTrainable('block0/ffn/in/bias', 'lora')).to.equal(false);
    expect(isPeftTrainable('block0/ffn/in/bias', 'lora-bitfit')).to.equal(true);
    expect(isPeftTrainable('block0/ffn/in/kernel', 'lora-bitfit')).to.equal(false);
    expect(isPeftTrainable('block0/ffn/in/lora_b', 'bitfit')).to.equal(false);
  });

  it('starts as the model without LoRA (B = 0, shared weights initialised identically), then trains only factors and heads', () => {
    const base = ProfileModel.create(TINY, 7);
    const model = ProfileModel.create(LORA, 7);
    const examples = cycleExamples(32, TINY, 'lora');
    const batch = toBatch(examples.slice(0, 4).map((e) => e.input), TINY);
    const [a, b] = tf.tidy(() => [base.encode(batch, false).dataSync(), model.encode(batch, false).dataSync()]);
    expect(Array.from(b!)).to.deep.equal(Array.from(a!));

    const before = flat(model);
    const slice = new PeftSlice(before.manifest, 'lora');
    trainLocal(model, { train: examples }, {
      round: 1, phase: 'finetune', localEpochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', seed: 5, trainOnly: slice.names,
    });
    const delta = computeDelta(flat(model).values, before.values);
    const mask = slice.scatter(new Float32Array(slice.size).fill(1));
    expect(delta.filter((_, i) => mask[i] === 0).every((x) => x === 0)).to.equal(true);
    // B moved (its gradient is A-scaled, nonzero), so the adapted kernels differ from the frozen ones.
    const bRange = before.manifest.specs.findIndex((s) => s.name === 'block0/attn/qkv/lora_b');
    let at = 0;
    for (let i = 0; i < bRange; i++) at += before.manifest.specs[i]!.shape.reduce((x, y) => x * y, 1);
    expect(delta.subarray(at, at + 2 * 3 * TINY.dModel).some((x) => x !== 0)).to.equal(true);
    const [c] = tf.tidy(() => [model.encode(batch, false).dataSync()]);
    expect(Array.from(c!)).to.not.deep.equal(Array.from(a!));
  });
});
