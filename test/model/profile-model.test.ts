import { expect } from 'chai';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs';
import { clozeMask, disposeBatch, toBatch, type ModelBatch } from '../../shared/model/batch.js';
import { BERT4REC_64, type ModelConfig } from '../../shared/model/config.js';
import { initialGlobalWeights, loadFlatWeights, modelManifest } from '../../shared/model/init.js';
import { ProfileModel, type FinetuneTargets } from '../../shared/model/profile-model.js';
import { createTrainSteps } from '../../shared/model/train-step.js';
import { initBackend } from '../../shared/tf/backend.js';
import { ConfigError, FedProfileError } from '../../shared/errors.js';
import { randomSequence, TINY } from './fixtures.js';

function data(cfg: ModelConfig, n: number, seed: string) {
  const rng = seedrandom(seed);
  const seqs = Array.from({ length: n }, (_, i) => randomSequence(cfg, i % 3 === 0 ? cfg.maxLen : 2 + (i % (cfg.maxLen - 2)), rng));
  const masked = clozeMask(seqs, 0.3, seedrandom(seed + '/mask'));
  return { seqs, masked };
}

function targetsFor(cfg: ModelConfig, n: number): FinetuneTargets {
  return {
    purchased: tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2), 'float32'),
    interests: tf.tensor2d(Array.from({ length: n * cfg.categoryVocab }, (_, i) => (i % 3 === 0 ? 1 : 0)), [n, cfg.categoryVocab]),
    tier: tf.tensor1d(Array.from({ length: n }, (_, i) => i % cfg.numTiers), 'int32'),
  };
}

const flat = (m: ProfileModel) => m.weights.map((w) => Array.from(w.variable.dataSync()));

describe('ProfileModel', () => {
  before(async () => { await initBackend('wasm'); });
  after(async () => { await tf.setBackend('wasm'); });

  it('has stable weight names and produces outputs of the documented shapes', () => {
    const m = ProfileModel.create(TINY, 1);
    const names = m.weights.map((w) => w.name);
    expect(names.slice(0, 9)).to.deep.equal(['embed/item', 'embed/category', 'embed/action', 'embed/price', 'embed/gap', 'embed/text', 'embed/position', 'embed/ln/gamma', 'embed/ln/beta']);
    expect(names).to.include.members(['block0/attn/qkv/kernel', 'block1/ffn/out/bias', 'head/item/bias', 'head/tier/bias']);
    expect(new Set(names).size).to.equal(names.length);
    const { seqs } = data(TINY, 5, 's1');
    const b = toBatch(seqs, TINY);
    tf.tidy(() => {
      const h = m.encode(b, false);
      expect(h.shape).to.deep.equal([5, 8, 16]);
      const u = m.userEmbedding(h, b);
      expect(u.shape).to.deep.equal([5, 16]);
      expect(m.itemLogits(u).shape).to.deep.equal([5, 40]);
      const heads = m.headLogits(u, b.features);
      expect(heads.propensity.shape).to.deep.equal([5]);
      expect(heads.interests.shape).to.deep.equal([5, 6]);
      expect(heads.tier.shape).to.deep.equal([5, 3]);
      const sal = m.eventSaliency(b).arraySync();
      sal.forEach((row, i) => {
        expect(row.reduce((a, x) => a + x, 0)).to.be.closeTo(1, 1e-5);
        row.forEach((x, l) => { if (seqs[i]!.item[l] === 0) expect(x).to.equal(0); });
      });
    });
    disposeBatch(b);
    m.dispose();
  });

  it('matches the reference parameter count for bert4rec-64 and disables unused fields', () => {
    const m = ProfileModel.create(BERT4REC_64, 0);
    expect(m.paramCount('cloze')).to.equal(428426); // = PyTorch reference
    expect(m.weights.some((w) => w.name === 'embed/category' || w.name === 'embed/action')).to.equal(false);
    m.dispose();
  });

  it('initialises deterministically from the seed, and initialGlobalWeights flattens in weight order', async () => {
    const a = ProfileModel.create(TINY, 7);
    const b = ProfileModel.create(TINY, 7);
    const c = ProfileModel.create(TINY, 8);
    expect(flat(a)).to.deep.equal(flat(b));
    expect(flat(a)[0]).to.not.deep.equal(flat(c)[0]);
    const g = await initialGlobalWeights(TINY, 7);
    expect(g.manifest).to.deep.equal(modelManifest(TINY));
    expect(g.values.length).to.equal(g.manifest.totalSize);
    expect(Array.from(g.values)).to.deep.equal(flat(a).flat());
    expect(g.manifest.specs[0]).to.deep.equal({ name: 'embed/item', shape: [40, 16], dtype: 'float32' });
    loadFlatWeights(c, g.values);
    expect(flat(c)).to.deep.equal(flat(a));
    expect(() => loadFlatWeights(c, g.values.subarray(1))).to.throw(FedProfileError, /needs/);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('rejects invalid configs and seeds with ConfigError', () => {
    expect(() => ProfileModel.create({ ...TINY, heads: 3 }, 1)).to.throw(ConfigError, /divisible/);
    expect(() => ProfileModel.create(TINY, 1.5)).to.throw(ConfigError, /seed/);
  });

  it('save/restore through getWeightTensors/setWeights reproduces outputs exactly', () => {
    const a = ProfileModel.create(TINY, 3);
    const b = ProfileModel.create(TINY, 4);
    const { seqs } = data(TINY, 4, 's2');
    const batch = toBatch(seqs, TINY);
    const saved = a.getWeightTensors();
    b.setWeights(saved);
    tf.dispose(saved);
    const [ha, hb] = tf.tidy(() => [a.encode(batch, false).dataSync(), b.encode(batch, false).dataSync()]);
    expect(Array.from(hb!)).to.deep.equal(Array.from(ha!));
    expect(() => b.setWeights([])).to.throw(FedProfileError, /got 0 tensors/);
    const wrong = a.getWeightTensors();
    wrong[0] = tf.zeros([2, 2]);
    expect(() => b.setWeights(wrong)).to.throw(FedProfileError, /embed\/item/);
    tf.dispose(wrong);
    disposeBatch(batch);
    a.dispose();
    b.dispose();
  });

  it('a seeded training step (with dropout) is reproducible bit for bit', () => {
    const { masked } = data(TINY, 6, 's3');
    const run = () => {
      const m = ProfileModel.create(TINY, 5);
      const steps = createTrainSteps(m, { learningRate: 1e-2 });
      const batch = toBatch(masked.inputs, TINY);
      const losses = [steps.cloze(batch, masked.positions, masked.targets, 11), steps.cloze(batch, masked.positions, masked.targets, 12)];
      const w = flat(m);
      disposeBatch(batch);
      steps.dispose();
      m.dispose();
      return { losses, w };
    };
    const before = tf.memory().numTensors;
    const r1 = run();
    const r2 = run();
    expect(r1.losses).to.deep.equal(r2.losses);
    expect(r1.w).to.deep.equal(r2.w);
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('dropout changes with the dropout seed and is off when not training', () => {
    const m = ProfileModel.create(TINY, 5);
    const { seqs } = data(TINY, 3, 's4');
    const batch = toBatch(seqs, TINY);
    const out = (training: boolean, seed?: number) => tf.tidy(() => Array.from(m.encode(batch, training, seed).dataSync()));
    expect(out(true, 1)).to.deep.equal(out(true, 1));
    expect(out(true, 1)).to.not.deep.equal(out(true, 2));
    expect(out(false, 1)).to.deep.equal(out(false, 2));
    disposeBatch(batch);
    m.dispose();
  });

  it('Cloze and fine-tuning losses decrease over a few steps', () => {
    const cfg = { ...TINY, dropout: 0 };
    const { seqs, masked } = data(cfg, 8, 's5');
    const m = ProfileModel.create(cfg, 9);
    const steps = createTrainSteps(m, { learningRate: 1e-2 });
    const mb = toBatch(masked.inputs, cfg);
    const fb = toBatch(seqs, cfg);
    const t = targetsFor(cfg, 8);
    const cloze = Array.from({ length: 25 }, () => steps.cloze(mb, masked.positions, masked.targets));
    const fine = Array.from({ length: 25 }, () => steps.finetune(fb, t));
    expect(cloze[0]).to.be.closeTo(Math.log(cfg.itemVocab), 0.3);
    expect(cloze[24]!).to.be.below(cloze[0]! * 0.6);
    expect(fine[24]!).to.be.below(fine[0]! * 0.8);
    tf.dispose([t.purchased, t.interests, t.tier]);
    disposeBatch(mb);
    disposeBatch(fb);
    steps.dispose();
    m.dispose();
  });

  it('fused ops give the same losses and gradients as plain autodiff', () => {
    const { seqs, masked } = data(TINY, 5, 's6');
    const fused = ProfileModel.create(TINY, 2);
    const plain = ProfileModel.create(TINY, 2, { fusedOps: false });
    const mb = toBatch(masked.inputs, TINY);
    const fb = toBatch(seqs, TINY);
    const t = targetsFor(TINY, 5);
    const grads = (m: ProfileModel, which: 'cloze' | 'fine') => tf.tidy(() => {
      const vars = m.weights.map((w) => w.variable);
      const { value, grads: g } = tf.variableGrads(() => (which === 'cloze'
        // no dropout for Cloze: the fused path draws the last block's dropout over the masked rows only
        ? m.clozeLoss(mb, masked.positions, masked.targets, false)
        : m.finetuneLoss(fb, t, true, 3)), vars);
      return [value.dataSync()[0]!, ...vars.filter((v) => g[v.name] !== undefined).map((v) => Array.from(g[v.name]!.dataSync()))] as [number, ...number[][]];
    });
    for (const which of ['cloze', 'fine'] as const) {
      const [lf, ...gf] = grads(fused, which);
      const [lp, ...gp] = grads(plain, which);
      expect(lf).to.be.closeTo(lp, 1e-5);
      expect(gf.length).to.equal(gp.length);
      gf.forEach((g, i) => g.forEach((x, j) => expect(Math.abs(x - gp[i]![j]!)).to.be.below(1e-4)));
    }
    tf.dispose([t.purchased, t.interests, t.tier]);
    disposeBatch(mb);
    disposeBatch(fb);
    fused.dispose();
    plain.dispose();
  });

  it('full Cloze loss gradient on wasm matches the cpu backend to 1e-4', async () => {
    const { masked } = data(TINY, 5, 's7');
    const gradsOn = async (backend: 'wasm' | 'cpu') => {
      await tf.setBackend(backend);
      const m = ProfileModel.create(TINY, 6);
      const batch: ModelBatch = toBatch(masked.inputs, TINY);
      const out = tf.tidy(() => {
        const vars = m.weights.map((w) => w.variable);
        const { value, grads } = tf.variableGrads(() => m.clozeLoss(batch, masked.positions, masked.targets, true, 4), vars);
        return [[value.dataSync()[0]!], ...vars.filter((v) => grads[v.name] !== undefined).map((v) => Array.from(grads[v.name]!.dataSync()))];
      });
      disposeBatch(batch);
      m.dispose();
      return out;
    };
    const w = await gradsOn('wasm');
    const c = await gradsOn('cpu');
    await tf.setBackend('wasm');
    expect(w.length).to.equal(c.length);
    w.forEach((g, i) => g.forEach((x, j) => expect(Math.abs(x - c[i]![j]!), `weight ${i}[${j}]`).to.be.below(1e-4)));
  });

  it('clozeLoss refuses a batch without masked positions', () => {
    const m = ProfileModel.create(TINY, 1);
    const { seqs } = data(TINY, 2, 's8');
    const b = toBatch(seqs, TINY);
    expect(() => tf.tidy(() => m.clozeLoss(b, new Int32Array(0), new Int32Array(0), false))).to.throw(FedProfileError, /no masked positions/);
    disposeBatch(b);
    m.dispose();
  });
});
