import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../../shared/model/config.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/index.js';
import { DataParallelGroup } from '../../shared/training/data-parallel.js';
import { trainLocal, type TrainOptions } from '../../shared/training/trainer.js';
import { createTrainingSession } from '../../shared/training/session.js';
import { createWorkerTrainer } from '../../shared/training/worker-trainer.js';
import { initialGlobalWeights } from '../../shared/model/init.js';
import { trainThreadsArg } from '../../client-sdk/cli.js';
import { flattenTensors } from '../../shared/weights/flatten.js';
import { TINY, cycleExamples } from './fixtures.js';

/** Dropout off: then splitting a batch changes nothing but the order of float additions. */
const NO_DROPOUT: ModelConfig = { ...TINY, dropout: 0 };
const base: TrainOptions = { round: 0, phase: 'pretrain', localEpochs: 1, batchSize: 4, learningRate: 0.01, optimizer: 'adam', seed: 7 };

interface Run { losses: number[]; weights: Float32Array; trainLoss: number }

/**
 * The key third of the qkv bias gets a zero gradient in exact arithmetic (softmax ignores a shift shared by
 * all keys), so its float-noise gradient is scaled up to full lr-sized steps by Adam whichever way it is summed.
 */
const NOISE_ONLY = /attn\/qkv\/bias$/;

function run(cfg: ModelConfig, opts: TrainOptions, n = 23 * 4): Run {
  const train = cycleExamples(n, cfg, 'fused-step');
  const model = ProfileModel.create(cfg, 4);
  const losses: number[] = [];
  try {
    const r = trainLocal(model, { train }, opts, (p) => losses.push(p.loss));
    const kept = model.weights.filter((w) => !NOISE_ONLY.test(w.name));
    return { losses, weights: flattenTensors(kept.map((w) => ({ name: w.name, tensor: w.variable }))).values, trainLoss: r.metrics.trainLoss! };
  } finally {
    model.dispose();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('training/data-parallel: one client on several engines', function () {
  this.timeout(60_000);
  let two: DataParallelGroup;
  let three: DataParallelGroup;
  before(async () => {
    await initBackend();
    [two, three] = await Promise.all([
      DataParallelGroup.start({ threads: 2, modelConfig: NO_DROPOUT }),
      DataParallelGroup.start({ threads: 3, modelConfig: TINY }),
    ]);
  });
  after(async () => { await Promise.all([two?.close(), three?.close()]); });

  it('2 engines follow the single-engine trajectory for 23 Cloze steps (same objective, summed gradients)', () => {
    const single = run(NO_DROPOUT, base);
    const parallel = run(NO_DROPOUT, { ...base, dataParallel: two });
    expect(parallel.losses).to.have.length(23);
    parallel.losses.forEach((l, i) => expect(l, `step ${i + 1}`).to.be.closeTo(single.losses[i]!, 2e-4 * Math.max(1, l)));
    expect(maxAbsDiff(parallel.weights, single.weights)).to.be.lessThan(1e-3);
    expect(parallel.losses[22]).to.be.lessThan(parallel.losses[0]! - 0.3);
  });

  it('finetune with FedProx and an odd batch: the split objective still sums to the whole batch', () => {
    // 23 examples in batches of 4: the last batch has 3 rows, so the 2 shards differ in size.
    const opts: TrainOptions = { ...base, phase: 'finetune', proximalMu: 0.5 };
    const single = run(NO_DROPOUT, opts, 23);
    const parallel = run(NO_DROPOUT, { ...opts, dataParallel: two }, 23);
    parallel.losses.forEach((l, i) => expect(l, `step ${i + 1}`).to.be.closeTo(single.losses[i]!, 2e-4 * Math.max(1, l)));
    expect(maxAbsDiff(parallel.weights, single.weights)).to.be.lessThan(1e-3);
  });

  it('the next-item objective (appended MASK targets) splits the same way', () => {
    const opts: TrainOptions = { ...base, nextItemObjective: true };
    const single = run(NO_DROPOUT, opts, 32);
    const parallel = run(NO_DROPOUT, { ...opts, dataParallel: two }, 32);
    expect(parallel.losses).to.have.length(8);
    parallel.losses.forEach((l, i) => expect(l, `step ${i + 1}`).to.be.closeTo(single.losses[i]!, 2e-4 * Math.max(1, l)));
    expect(maxAbsDiff(parallel.weights, single.weights)).to.be.lessThan(1e-3);
  });

  it('is bit-reproducible for a fixed engine count (with dropout), and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const a = run(TINY, { ...base, dataParallel: three });
    const b = run(TINY, { ...base, dataParallel: three });
    expect(tf.memory().numTensors).to.equal(before);
    expect(b.losses).to.deep.equal(a.losses);
    expect(maxAbsDiff(a.weights, b.weights)).to.equal(0);
    expect(a.losses[22]).to.be.lessThan(a.losses[0]! - 0.3);
  });

  it('a 1-engine group is exactly the plain path', async () => {
    const one = await DataParallelGroup.start({ threads: 1, modelConfig: TINY });
    try {
      expect(run(TINY, { ...base, dataParallel: one }).losses).to.deep.equal(run(TINY, base).losses);
    } finally {
      await one.close();
    }
  });

  it('refuses a model of another config, a bad thread count, and a closed group', async () => {
    const other = ProfileModel.create(TINY, 1);
    try {
      expect(() => trainLocal(other, { train: cycleExamples(8, TINY, 'x') }, { ...base, dataParallel: two })).to.throw(/model config differs/);
    } finally {
      other.dispose();
    }
    for (const threads of [0, 1.5]) {
      let err: unknown;
      try { await DataParallelGroup.start({ threads, modelConfig: TINY }); } catch (e) { err = e; }
      expect(String(err)).to.match(/threads must be an integer/);
    }
    const g = await DataParallelGroup.start({ threads: 2, modelConfig: TINY });
    await g.close();
    const m = ProfileModel.create(TINY, 1);
    try {
      expect(() => trainLocal(m, { train: cycleExamples(8, TINY, 'x') }, { ...base, dataParallel: g })).to.throw(/closed/);
    } finally {
      m.dispose();
    }
  });

  it('--train-threads takes auto or a positive integer and names what it expects otherwise', () => {
    expect(trainThreadsArg('auto')).to.equal('auto');
    expect(trainThreadsArg('4')).to.equal(4);
    for (const bad of ['0', '1.5', 'all', '']) expect(() => trainThreadsArg(bad), bad).to.throw(/expected auto or an integer from 1 to 256/);
  });

  it('a helper that fails mid-run stops the step with its message instead of hanging', () => {
    // An item id beyond the vocabulary in the helper's half of the batch only (rows 2..3 of the first batch).
    const train = cycleExamples(4, NO_DROPOUT, 'bad');
    const bad = { ...train[3]!, input: { ...train[3]!.input, item: train[3]!.input.item.map((x) => (x >= 2 ? 999 : x)) } };
    const m = ProfileModel.create(NO_DROPOUT, 1);
    try {
      expect(() => trainLocal(m, { train: [train[0]!, train[1]!, train[2]!, bad] }, { ...base, seed: 1, dataParallel: two }))
        .to.throw(/failed in participant 1: .*999/);
    } finally {
      m.dispose();
    }
    // The group survives a failed run: the next one trains normally.
    expect(run(NO_DROPOUT, { ...base, dataParallel: two }, 8).losses).to.have.length(2);
  });

  it('a client trainer with training.threads 2 (a worker thread with its own helper) gives the in-process 2-engine delta, bit for bit', async () => {
    const { manifest, values } = await initialGlobalWeights(TINY, 9);
    const examples = { train: cycleExamples(40, TINY, 'w-train') };
    const config = { round: 1, phase: 'finetune' as const, localEpochs: 1, batchSize: 8, learningRate: 0.01, optimizer: 'adam' as const, seed: 3 };
    const trainer = createWorkerTrainer({ modelConfig: TINY, examples, seed: 1, backend: 'wasm', training: { threads: 2 } });
    const local = await createTrainingSession({ modelConfig: TINY, examples, seed: 1, backend: 'wasm', training: { threads: 2 } });
    const single = await createTrainingSession({ modelConfig: TINY, examples, seed: 1, backend: 'wasm' });
    try {
      const viaWorker = await trainer.fit(values, manifest, config);
      const inProcess = local.fit(values, manifest, config);
      expect(maxAbsDiff(viaWorker.delta, inProcess.delta)).to.equal(0);
      expect(viaWorker.delta.some((x) => x !== 0)).to.equal(true);
      // With dropout the split draws other masks than one engine: a different (valid) trajectory.
      expect(maxAbsDiff(single.fit(values, manifest, config).delta, inProcess.delta)).to.be.greaterThan(0);
    } finally {
      await Promise.all([trainer.close(), local.close(), single.close()]);
    }
  });
});
