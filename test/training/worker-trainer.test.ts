import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialGlobalWeights } from '../../shared/model/init.js';
import { initBackend } from '../../shared/tf/index.js';
import { writeExamplesFile } from '../../shared/training/examples-file.js';
import type { FitConfig, TrainingProgress } from '../../shared/training/types.js';
import { TrainingWorkerError, createWorkerTrainer } from '../../shared/training/worker-trainer.js';
import { TINY, cycleExamples } from './fixtures.js';

const fitConfig: FitConfig = {
  round: 1, phase: 'finetune', localEpochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', seed: 3,
};

describe('training/worker trainer (real worker_threads)', function () {
  this.timeout(60_000);
  const examples = {
    train: cycleExamples(96, TINY, 'w-train'),
    validation: cycleExamples(16, TINY, 'w-val'),
    test: cycleExamples(24, TINY, 'w-test'),
  };
  let dir: string;
  before(async () => {
    await initBackend();
    dir = mkdtempSync(join(tmpdir(), 'fp-worker-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('fits in a worker: delta of manifest length, progress, metrics, and the event loop keeps ticking', async () => {
    const { manifest, values } = await initialGlobalWeights(TINY, 9);
    const trainer = createWorkerTrainer({ modelConfig: TINY, examples, seed: 1, backend: 'wasm' });
    try {
      const ready = await trainer.ready;
      expect(ready.counts).to.deep.equal({ train: 96, validation: 16, test: 24 });
      let ticks = 0;
      const timer = setInterval(() => { ticks++; }, 5);
      const progress: TrainingProgress[] = [];
      const t0 = Date.now();
      const r = await trainer.fit(values, manifest, fitConfig, (p) => progress.push(p));
      const elapsed = Date.now() - t0;
      clearInterval(timer);
      expect(r.delta).to.be.instanceOf(Float32Array);
      expect(r.delta.length).to.equal(manifest.totalSize);
      expect(r.delta.some((x) => x !== 0)).to.equal(true);
      expect(r.numExamples).to.equal(96);
      expect(r.metrics.trainLoss).to.be.a('number');
      expect(r.metrics).to.have.property('val_ndcg10');
      expect(progress).to.have.length(12);
      // A blocked loop would tick ~once; a free one ticks about every 5 ms of the fit.
      expect(ticks).to.be.greaterThan(Math.min(20, elapsed / 20));
      expect(values.length).to.equal(manifest.totalSize); // the caller's vector was copied, not detached

      const ev = await trainer.evaluate(values, manifest);
      expect(ev.numExamples).to.equal(24);
      for (const k of ['ndcg10', 'hr10', 'ndcg10Sampled', 'hr10Sampled', 'interestP3', 'tierAcc', 'loss']) {
        expect(ev.metrics[k], k).to.be.a('number');
        expect(ev.metrics[`baseline_${k}`], `baseline_${k}`).to.be.a('number');
      }
    } finally {
      await trainer.close();
    }
  });

  it('is deterministic across workers and loads examples from a file', async () => {
    const { manifest, values } = await initialGlobalWeights(TINY, 9);
    const file = join(dir, 'examples.json');
    await writeExamplesFile(file, examples);
    const a = createWorkerTrainer({ modelConfig: TINY, examples, seed: 1 });
    const b = createWorkerTrainer({ modelConfig: TINY, examplesFile: file, seed: 1 });
    try {
      const cfg1 = { ...fitConfig, localEpochs: 1 };
      const [ra, rb] = await Promise.all([a.fit(values, manifest, cfg1), b.fit(values, manifest, cfg1)]);
      expect(Buffer.from(ra.delta.buffer).equals(Buffer.from(rb.delta.buffer))).to.equal(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('turns worker-side failures into typed errors without crashing, and rejects after close', async () => {
    const { manifest, values } = await initialGlobalWeights(TINY, 9);
    const trainer = createWorkerTrainer({ modelConfig: TINY, examples, seed: 1 });
    try {
      const err1 = await trainer.fit(values.subarray(1), manifest, fitConfig).catch((e: unknown) => e);
      expect(err1).to.be.instanceOf(TrainingWorkerError);
      expect((err1 as TrainingWorkerError).code).to.equal('BAD_INPUT');
      const other = { ...manifest, specs: manifest.specs.map((s, i) => (i === 0 ? { ...s, name: 'other' } : s)) };
      const err2 = await trainer.fit(values, other, fitConfig).catch((e: unknown) => e);
      expect((err2 as TrainingWorkerError).code).to.equal('INTEGRITY');
      const err3 = await trainer.fit(values, manifest, { ...fitConfig, batchSize: 0 }).catch((e: unknown) => e);
      expect((err3 as TrainingWorkerError).code).to.equal('BAD_CONFIG');
      // still alive after the errors
      const ok = await trainer.fit(values, manifest, { ...fitConfig, localEpochs: 1 });
      expect(ok.delta.length).to.equal(manifest.totalSize);
    } finally {
      await trainer.close();
    }
    const closed = await trainer.fit(values, manifest, fitConfig).catch((e: unknown) => e);
    expect((closed as TrainingWorkerError).code).to.equal('CONFLICT');
  });

  it('reports a bad examples file as a typed BAD_DATA_FILE error', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '\u0000\u0001binary');
    const trainer = createWorkerTrainer({ modelConfig: TINY, examplesFile: file, seed: 1 });
    const err = await trainer.ready.catch((e: unknown) => e);
    await trainer.close();
    expect(err).to.be.instanceOf(TrainingWorkerError);
    expect((err as TrainingWorkerError).code).to.equal('BAD_DATA_FILE');
    expect((err as Error).message).to.contain('bad.json');
  });
});
