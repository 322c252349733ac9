import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { ProfileModel, weightSpecs } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { trainLocal, type TrainOptions } from '../../shared/training/trainer.js';
import { flattenTensors } from '../../shared/weights/flatten.js';
import { TINY, cycleExamples } from './fixtures.js';

const flat = (m: ProfileModel) => flattenTensors(m.weights.map((w) => ({ name: w.name, tensor: w.variable }))).values;

/** 92 examples in batches of 4 = 23 optimiser steps in one epoch. */
const STEPS = 23;
const base: TrainOptions = {
  round: 0, phase: 'pretrain', localEpochs: 1, batchSize: 4, learningRate: 0.01, optimizer: 'adam', seed: 7,
};

/** Flat indices of the attention key biases (the middle third of each block's qkv bias). */
const KEY_BIAS: ReadonlySet<number> = (() => {
  const out = new Set<number>();
  let off = 0;
  for (const s of weightSpecs(TINY)) {
    if (s.name.endsWith('/attn/qkv/bias')) for (let j = TINY.dModel; j < 2 * TINY.dModel; j++) out.add(off + j);
    off += s.shape.reduce((a, b) => a * b, 1);
  }
  return out;
})();

interface Run { losses: number[]; trainLoss: number; weights: Float32Array; leaked: number }

function run(opts: TrainOptions): Run {
  const train = cycleExamples(STEPS * 4, TINY, 'fused-step');
  const model = ProfileModel.create(TINY, 4);
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  const r = trainLocal(model, { train }, opts, (p) => losses.push(p.loss));
  const leaked = tf.memory().numTensors - before;
  const weights = flat(model);
  model.dispose();
  return { losses, trainLoss: r.metrics.trainLoss!, weights, leaked };
}

function expectSameTrajectory(fused: Run, reference: Run): void {
  expect(fused.losses).to.have.length(STEPS);
  expect(reference.losses).to.have.length(STEPS);
  fused.losses.forEach((l, i) => expect(l, `step ${i + 1}`).to.be.closeTo(reference.losses[i]!, 2e-4 * Math.max(1, Math.abs(l))));
  expect(fused.trainLoss).to.be.closeTo(reference.trainLoss, 2e-4);
  let maxDiff = 0;
  // The attention key bias adds the same q·b to every score of a query, so softmax makes its gradient zero up
  // to rounding; on such noise the two Adams' eps conventions take arbitrary steps. It is left out.
  fused.weights.forEach((w, i) => { if (!KEY_BIAS.has(i)) maxDiff = Math.max(maxDiff, Math.abs(w - reference.weights[i]!)); });
  expect(maxDiff).to.be.lessThan(1e-3);
}

describe('training/trainer: fused optimiser step', function () {
  this.timeout(30_000);
  before(async () => { await initBackend(); });

  it('Adam: the fused step follows tf.train.adam for 23 Cloze steps (losses and weights) and leaks nothing', () => {
    const fused = run(base);
    const reference = run({ ...base, fusedAdam: false });
    expectSameTrajectory(fused, reference);
    expect(fused.losses[STEPS - 1]).to.be.lessThan(fused.losses[0]! - 0.3); // it learned, so the match means something
    expect(fused.leaked).to.equal(0);
    expect(reference.leaked).to.equal(0);
  });

  it('Adam + FedProx (finetune): the proximal term reaches the fused step exactly as it reached tf.train.adam', () => {
    const opts: TrainOptions = { ...base, phase: 'finetune', proximalMu: 0.5 };
    const fused = run(opts);
    expectSameTrajectory(fused, run({ ...opts, fusedAdam: false }));
    // mu changes the trajectory: the term is really part of the objective the fused step differentiates.
    const free = run({ ...opts, proximalMu: 0 });
    expect(Math.abs(free.losses[STEPS - 1]! - fused.losses[STEPS - 1]!)).to.be.greaterThan(1e-3);
  });

  it('the default path runs one fused Adam kernel per trained variable, the fusedAdam: false path none', async () => {
    const adamKernels = async (opts: TrainOptions) => {
      const model = ProfileModel.create(TINY, 4);
      const train = cycleExamples(4, TINY, 'one-step');
      const p = await tf.profile(() => { trainLocal(model, { train }, opts); });
      model.dispose();
      return p.kernels.filter((k) => k.name === 'FedProfileAdamStep').length;
    };
    const fused = await adamKernels(base);
    // pretrain trains everything but the profile heads (one step here).
    const trained = ProfileModel.create(TINY, 4);
    const expected = trained.weights.filter((w) => !w.name.startsWith('head/') || w.name === 'head/item/bias').length;
    trained.dispose();
    expect(fused).to.equal(expected);
    expect(await adamKernels({ ...base, fusedAdam: false })).to.equal(0);
  });

  it('SGD still trains through the shared step, and differs from Adam', () => {
    const sgd = run({ ...base, optimizer: 'sgd', learningRate: 0.1 });
    expect(sgd.losses).to.have.length(STEPS);
    expect(sgd.losses[STEPS - 1]).to.be.lessThan(sgd.losses[0]!);
    expect(sgd.leaked).to.equal(0);
    const adam = run({ ...base, learningRate: 0.1 });
    expect(Math.abs(adam.losses[STEPS - 1]! - sgd.losses[STEPS - 1]!)).to.be.greaterThan(1e-3);
  });
});
