import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { ConfigError } from '../../shared/errors.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { trainLocal, validationLoss, type TrainOptions } from '../../shared/training/trainer.js';
import type { TrainingProgress } from '../../shared/training/types.js';
import { flattenTensors } from '../../shared/weights/flatten.js';
import { computeDelta, l2Norm } from '../../shared/weights/delta.js';
import { TINY, cycleExamples } from './fixtures.js';

const flat = (m: ProfileModel) => flattenTensors(m.weights.map((w) => ({ name: w.name, tensor: w.variable }))).values;

const base: TrainOptions = {
  round: 0, phase: 'pretrain', localEpochs: 3, batchSize: 16, learningRate: 0.01, optimizer: 'adam', seed: 11,
};

describe('training/trainer', function () {
  this.timeout(60_000);
  const train = cycleExamples(64, TINY, 'train');
  const validation = cycleExamples(16, TINY, 'val');

  before(async () => { await initBackend(); });

  it('reduces the Cloze loss and reports progress for every step', () => {
    const model = ProfileModel.create(TINY, 1);
    const before = validationLoss(model, validation, base);
    const progress: TrainingProgress[] = [];
    const r = trainLocal(model, { train }, { ...base, localEpochs: 4 }, (p) => progress.push(p));
    const after = validationLoss(model, validation, base);
    expect(r.stepsRun).to.equal(16);
    expect(r.numExamples).to.equal(64);
    expect(progress).to.have.length(16);
    expect(progress[15]).to.include({ phase: 'pretrain', epoch: 3, epochs: 4, step: 4, steps: 4 });
    expect(after).to.be.lessThan(before - 0.5);
    model.dispose();
  });

  it('fine-tunes the heads (with the Cloze auxiliary) and lowers the finetune loss', () => {
    const model = ProfileModel.create(TINY, 2);
    const opts: TrainOptions = { ...base, phase: 'finetune', localEpochs: 4, clozeWeightInFinetune: 0.5 };
    const before = validationLoss(model, train, opts);
    trainLocal(model, { train }, opts);
    expect(validationLoss(model, train, opts)).to.be.lessThan(before - 0.3);
    model.dispose();
  });

  it('is bit-for-bit reproducible with the same seed (dropout on), and differs with another', () => {
    const run = (seed: number) => {
      const m = ProfileModel.create(TINY, 3);
      trainLocal(m, { train }, { ...base, localEpochs: 2, phase: 'finetune', seed });
      const v = flat(m);
      m.dispose();
      return Buffer.from(v.buffer);
    };
    const a = run(5);
    expect(a.equals(run(5))).to.equal(true);
    expect(a.equals(run(6))).to.equal(false);
  });

  it('FedProx: a large mu keeps the update close to the global weights', () => {
    const deltaNorm = (mu: number) => {
      const m = ProfileModel.create(TINY, 4);
      const g = flat(m);
      trainLocal(m, { train }, { ...base, optimizer: 'sgd', learningRate: 0.5, localEpochs: 2, proximalMu: mu });
      const n = l2Norm(computeDelta(flat(m), g));
      m.dispose();
      return n;
    };
    const free = deltaNorm(0);
    const prox = deltaNorm(1.5);
    expect(free).to.be.greaterThan(0);
    expect(prox).to.be.lessThan(free * 0.7);
  });

  it('stops early on a rising validation loss and restores the best weights', () => {
    const model = ProfileModel.create(TINY, 5);
    // A tiny training set and a high learning rate overfit quickly; validation users are unseen walks.
    const opts: TrainOptions = { ...base, batchSize: 4, learningRate: 0.05, localEpochs: 30, earlyStoppingPatience: 2 };
    const r = trainLocal(model, { train: train.slice(0, 8), validation }, opts);
    expect(r.metrics.stoppedEarly).to.equal(1);
    expect(r.metrics.epochsRun).to.be.lessThan(30);
    expect(r.metrics.epochsRun).to.equal(r.metrics.bestEpoch + 1 + 2);
    expect(validationLoss(model, validation, opts)).to.equal(r.metrics.valLoss);
    expect(r.metrics.lastValLoss).to.be.greaterThan(r.metrics.valLoss);
    model.dispose();
  });

  it('leaks no tensors: the count is stable across epochs and back to the start afterwards', () => {
    const model = ProfileModel.create(TINY, 6);
    const start = tf.memory().numTensors;
    const atEpochEnd: number[] = [];
    trainLocal(model, { train, validation }, { ...base, phase: 'finetune', localEpochs: 3, proximalMu: 0.1, earlyStoppingPatience: 5 },
      (p) => { if (p.step === p.steps) atEpochEnd.push(tf.memory().numTensors); });
    expect(atEpochEnd).to.have.length(3);
    expect(atEpochEnd[2]).to.equal(atEpochEnd[1]);
    expect(tf.memory().numTensors).to.equal(start);
    model.dispose();
  });

  it('pretraining leaves the profile heads exactly at their starting values', () => {
    const model = ProfileModel.create(TINY, 8);
    const before = model.weights.map((w) => w.variable.dataSync().slice());
    trainLocal(model, { train }, { ...base, localEpochs: 1, proximalMu: 0.01 });
    model.weights.forEach((w, i) => {
      const same = Buffer.from(w.variable.dataSync().buffer).equals(Buffer.from(before[i].buffer));
      expect(same, w.name).to.equal(w.name.startsWith('head/') && w.name !== 'head/item/bias');
    });
    model.dispose();
  });

  it('rejects bad options with a ConfigError', () => {
    const model = ProfileModel.create(TINY, 7);
    expect(() => trainLocal(model, { train }, { ...base, batchSize: 0 })).to.throw(ConfigError, /batchSize/);
    expect(() => trainLocal(model, { train }, { ...base, learningRate: -1 })).to.throw(ConfigError, /learningRate/);
    expect(() => trainLocal(model, { train: [] }, base)).to.throw(ConfigError, /no training examples/);
    model.dispose();
  });
});
