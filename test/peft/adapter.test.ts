import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { parameterCount } from '../../coordinator/model-limits.js';
import { ConfigError } from '../../shared/errors.js';
import { toBatch } from '../../shared/model/batch.js';
import { ProfileModel, weightSpecs } from '../../shared/model/profile-model.js';
import { isPeftTrainable, PeftSlice } from '../../shared/peft/index.js';
import { initBackend } from '../../shared/tf/index.js';
import { trainLocal } from '../../shared/training/trainer.js';
import { computeDelta } from '../../shared/weights/delta.js';
import { flattenTensors } from '../../shared/weights/flatten.js';
import { parseSimulationConfig } from '../../simulations/config.js';
import { tinyExperiment } from '../simulations/fixtures.js';
import { TINY, cycleExamples } from '../training/fixtures.js';

const flat = (m: ProfileModel) => flattenTensors(m.weights.map((w) => ({ name: w.name, tensor: w.variable })));
const ADAPTER = { ...TINY, adapterSize: 3 };

/** Offset of a named weight in the flat vector. */
function offsetOf(m: ProfileModel, name: string): number {
  let at = 0;
  for (const w of m.weights) {
    if (w.name === name) return at;
    at += w.variable.size;
  }
  throw new Error(`no weight ${name}`);
}

describe('PEFT: bottleneck adapters (Houlsby et al. 2019)', function () {
  this.timeout(60_000);
  before(async () => { await initBackend(); });

  it('appends down [d, r] + bias and up [r, d] + bias after attention and FFN of every block, after LoRA; other layouts are unchanged', () => {
    const plain = weightSpecs(TINY);
    const both = weightSpecs({ ...ADAPTER, loraRank: 2 });
    const lora = weightSpecs({ ...TINY, loraRank: 2 });
    expect(weightSpecs({ ...TINY, adapterSize: 0 })).to.deep.equal(plain);
    expect(both.slice(0, lora.length)).to.deep.equal(lora);
    const added = weightSpecs(ADAPTER).slice(plain.length);
    expect(added.map((s) => [s.name, s.shape])).to.deep.equal(['attn', 'ffn'].flatMap((site) => [
      [`block0/adapter/${site}/down/kernel`, [16, 3]], [`block0/adapter/${site}/down/bias`, [3]],
      [`block0/adapter/${site}/up/kernel`, [3, 16]], [`block0/adapter/${site}/up/bias`, [16]],
    ]));
    expect(added.filter((s) => s.name.includes('/up/')).every((s) => s.init === 'zeros')).to.equal(true);
    for (const cfg of [ADAPTER, { ...ADAPTER, loraRank: 2, layers: 2 }]) {
      expect(parameterCount(cfg)).to.equal(weightSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0));
    }
  });

  it('with zero up weights gives exactly the base model outputs (fused and plain ops); nonzero up weights change them', () => {
    const examples = cycleExamples(8, TINY, 'adapter');
    const batch = toBatch(examples.slice(0, 4).map((e) => e.input), TINY);
    for (const fusedOps of [true, false]) {
      const base = ProfileModel.create(TINY, 7, { fusedOps });
      const model = ProfileModel.create(ADAPTER, 7, { fusedOps });
      const [a, b] = tf.tidy(() => [base.encode(batch, false).dataSync(), model.encode(batch, false).dataSync()]);
      expect(Array.from(b!)).to.deep.equal(Array.from(a!));
      // A nonzero up kernel (not a constant shift, which the LayerNorm would remove): the adapter is on the path.
      const up = model.maybeWeight('block0/adapter/ffn/up/kernel')!;
      up.assign(tf.randomNormal([3, 16], 0, 0.5, 'float32', 11));
      const [c] = tf.tidy(() => [model.encode(batch, false).dataSync()]);
      const diff = Array.from(c!).reduce((m, x, i) => Math.max(m, Math.abs(x - a![i]!)), 0);
      expect(diff).to.be.above(1e-3);
      base.dispose();
      model.dispose();
    }
  });

  it('a PEFT round trains only adapter and head weights, and the up projections move', () => {
    const model = ProfileModel.create(ADAPTER, 3);
    const before = flat(model);
    const slice = new PeftSlice(before.manifest, 'adapter');
    expect(slice.names.filter((n) => !n.startsWith('head/'))).to.have.length(8);
    trainLocal(model, { train: cycleExamples(32, TINY, 'adapter-fit') }, {
      round: 1, phase: 'finetune', localEpochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', seed: 5, trainOnly: slice.names,
    });
    const delta = computeDelta(flat(model).values, before.values);
    const mask = slice.scatter(new Float32Array(slice.size).fill(1));
    expect(delta.filter((_, i) => mask[i] === 0).every((x) => x === 0)).to.equal(true);
    const at = offsetOf(model, 'block0/adapter/ffn/up/kernel');
    expect(delta.subarray(at, at + 3 * 16).some((x) => x !== 0)).to.equal(true);
    model.dispose();
  });

  it('selects adapter weights only for the adapter methods; BitFit leaves adapter biases alone', () => {
    const name = 'block0/adapter/attn/down/bias';
    expect(isPeftTrainable(name, 'adapter')).to.equal(true);
    expect(isPeftTrainable(name, 'adapter-bitfit')).to.equal(true);
    expect(isPeftTrainable(name, 'bitfit')).to.equal(false);
    expect(isPeftTrainable(name, 'lora-bitfit')).to.equal(false);
    expect(isPeftTrainable('block0/ffn/in/bias', 'adapter')).to.equal(false);
    expect(isPeftTrainable('block0/ffn/in/bias', 'adapter-bitfit')).to.equal(true);
    expect(isPeftTrainable('block0/ffn/in/kernel', 'adapter-bitfit')).to.equal(false);
    expect(isPeftTrainable('block0/attn/qkv/lora_a', 'adapter-bitfit')).to.equal(false);
  });

  it('refuses configs that cannot work, naming the field', () => {
    expect(() => ProfileModel.create({ ...TINY, adapterSize: -1 }, 1)).to.throw(ConfigError, /adapterSize/);
    expect(() => ProfileModel.create({ ...TINY, adapterSize: 2.5 }, 1)).to.throw(ConfigError, /adapterSize/);
    const sim = (model: object, method: 'adapter' | 'adapter-bitfit' | 'lora') => parseSimulationConfig({
      ...tinyExperiment, strategies: [{ name: 'fedavg' }], model: { ...tinyExperiment.model, ...model }, peft: { method },
    });
    expect(() => sim({}, 'adapter')).to.throw(ConfigError, /peft\.method: "adapter" trains bottleneck adapters, which this model does not have: set model\.adapterSize/);
    expect(() => sim({ adapterSize: 0 }, 'adapter-bitfit')).to.throw(ConfigError, /set model\.adapterSize/);
    expect(() => sim({ adapterSize: 4 }, 'lora')).to.throw(ConfigError, /peft\.method: "lora" trains LoRA factors[^]*model\.loraRank/);
    expect(sim({ adapterSize: 4 }, 'adapter').model.adapterSize).to.equal(4);
    const manifest = flat(ProfileModel.create(TINY, 1)).manifest;
    expect(() => new PeftSlice(manifest, 'adapter')).to.throw(ConfigError, /peft\.method: "adapter" needs the model's adapterSize >= 1/);
    expect(() => new PeftSlice(manifest, 'lora-bitfit')).to.throw(ConfigError, /needs the model's loraRank >= 1/);
    expect(new PeftSlice(manifest, 'bitfit').size).to.be.above(0);
  });
});
