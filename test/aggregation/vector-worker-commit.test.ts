import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { createStrategy } from '../../shared/aggregation/index.js';
import { encodeServerOptimizerState } from '../../shared/aggregation/server-optimizers.js';
import { VectorWorker, type CommitStepResult } from '../../shared/aggregation/vector-worker.js';
import { FedProfileError } from '../../shared/errors.js';
import { buildManifest } from '../../shared/weights/layout.js';
import { weightsHash } from '../../shared/weights/hash.js';
import { encodeVector } from '../../shared/weights/codec.js';
import { prepareMessage } from '../../shared/protocol/transport.js';

const LENGTH = 600_001; // more than two blocks of DEFAULT_YIELD_EVERY (the norms are summed per block), not a multiple of it
const manifest = buildManifest([{ name: 'w', shape: [LENGTH - 1] }, { name: 'b', shape: [1] }]);
const vec = (seed: number, scale: number) => Float32Array.from({ length: LENGTH }, (_, i) => Math.sin(i * 0.013 + seed) * scale);
const info = { contributors: 3, totalWeight: 30, failures: 0 };
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('the commit step on the aggregation worker (real worker thread)', function () {
  this.timeout(20_000);
  const worker = new VectorWorker();
  after(() => worker.close());

  it('FedAdam over two rounds: weights, metrics and moments bit for bit the in-thread step; hashes and optimizer.bin match', async () => {
    const inThread = createStrategy({ name: 'fedadam', clientsPerRound: 3, minFitClients: 3 });
    const onWorker = createStrategy({ name: 'fedadam', clientsPerRound: 3, minFitClients: 3 });
    let globalA: Float32Array = vec(0, 0.1);
    let globalB: Float32Array = globalA.slice();
    for (const round of [1, 2]) {
      const delta = vec(round, 0.01);
      const a = await inThread.aggregateFit(round, globalA, delta, info);
      let prepared: CommitStepResult | undefined;
      const deltaForWorker = delta.slice();
      const b = await onWorker.aggregateFit(round, globalB, deltaForWorker, info, {
        runStep: async (job) => { prepared = await worker.commitStep(job, manifest, 1e4); return prepared.step; },
      });
      expect(bits(b.weights).equals(bits(a.weights)), `round ${round} weights`).to.equal(true);
      expect(b.metrics).to.deep.equal(a.metrics);
      const sa = inThread.optimizerState();
      const sb = onWorker.optimizerState();
      expect(sb.step).to.equal(round);
      expect(bits(sb.m!).equals(bits(sa.m!)) && bits(sb.v!).equals(bits(sa.v!)), 'moments').to.equal(true);
      expect(prepared!.hash).to.equal(await weightsHash(manifest, a.weights));
      expect(prepared!.weightsSha256).to.equal(createHash('sha256').update(bits(a.weights)).digest('hex'));
      const expectedBin = encodeServerOptimizerState(sa);
      expect(Buffer.from(prepared!.optimizer!.bytes).equals(Buffer.from(expectedBin))).to.equal(true);
      expect(prepared!.optimizer!.sha256).to.equal(createHash('sha256').update(expectedBin).digest('hex'));
      // The delta was handed over (transferred); the global model the caller keeps was only copied.
      expect(deltaForWorker.length).to.equal(0);
      expect(globalB.length).to.equal(LENGTH);
      globalA = a.weights;
      globalB = b.weights;
    }
  });

  it('the statistics ranges reach the worker: FedAdam there leaves them at global + mean delta, bit for bit the in-thread step', async () => {
    const exactRanges = [[10, 20_010]] as const;
    const inThread = createStrategy({ name: 'fedadam', clientsPerRound: 3, minFitClients: 3 });
    const onWorker = createStrategy({ name: 'fedadam', clientsPerRound: 3, minFitClients: 3 });
    const global = vec(3, 0.1);
    const delta = vec(4, 0.01);
    const a = await inThread.aggregateFit(1, global, delta, info, { exactRanges });
    const b = await onWorker.aggregateFit(1, global, delta.slice(), info, {
      exactRanges, runStep: async (job) => (await worker.commitStep(job, manifest, 1e4)).step,
    });
    expect(bits(b.weights).equals(bits(a.weights))).to.equal(true);
    for (const i of [10, 5_000, 20_009]) expect(b.weights[i]).to.equal(Math.fround(global[i]! + delta[i]!));
    expect(b.weights[9]).to.not.equal(Math.fround(global[9]! + delta[9]!));
  });

  it('FedAvg keeps no moments: no optimizer.bin', async () => {
    const s = createStrategy({ name: 'fedavg', clientsPerRound: 3, minFitClients: 3 });
    let prepared: CommitStepResult | undefined;
    await s.aggregateFit(1, vec(0, 1), vec(1, 0.01), info, { runStep: async (job) => { prepared = await worker.commitStep(job, manifest, 1e4); return prepared.step; } });
    expect(prepared!.optimizer).to.equal(null);
  });

  it('an aggregate above maxModelAbs fails with INTEGRITY on the worker, and the strategy state does not move', async () => {
    const s = createStrategy({ name: 'fedavgm', clientsPerRound: 3, minFitClients: 3 });
    const global = vec(0, 1);
    await s.aggregateFit(1, global, vec(1, 0.01), info, { runStep: async (job) => (await worker.commitStep(job, manifest, 1e4)).step });
    const before = s.optimizerState();
    const err = await s.aggregateFit(2, global, vec(2, 50), info, { runStep: async (job) => (await worker.commitStep(job, manifest, 10)).step })
      .then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(FedProfileError);
    expect((err as FedProfileError).code).to.equal('INTEGRITY');
    expect((err as Error).message).to.match(/exceeds maxModelAbs 10 at index \d+; the previous model stays/);
    expect(s.optimizerState()).to.equal(before);
    expect(s.optimizerState().step).to.equal(1);
    // The worker carries on after a failed job.
    const ok = await s.aggregateFit(2, global, vec(2, 0.01), info, { runStep: async (job) => (await worker.commitStep(job, manifest, 1e4)).step });
    expect(ok.metrics.serverStep).to.equal(2);
  });

  it('prepares the model message of a version: the bytes and frames prepareMessage gives in-thread, plain and f16', async () => {
    // Large enough to be chunked in both encodings (512 KiB frames).
    const values = Float32Array.from({ length: 300_000 }, (_, i) => Math.sin(i * 0.01) * 0.2);
    const manifest = buildManifest([{ name: 'w', shape: [300_000] }]);
    for (const codec of [undefined, 'f16'] as const) {
      const message = codec
        ? { type: 'model-encoded', hash: 'h'.repeat(64), manifest, encoded: encodeVector(values, codec) }
        : { type: 'model', hash: 'h'.repeat(64), manifest, weights: values };
      const here = prepareMessage(message);
      const there = await worker.prepareModel({ hash: 'h'.repeat(64), manifest, values, ...(codec ? { codec } : {}) });
      expect(Buffer.from(there.bytes).equals(Buffer.from(here.bytes)), `${codec ?? 'f32'} message bytes`).to.equal(true);
      expect(there.frames!.length).to.equal(here.frames!.length);
      there.frames!.forEach((f, i) => {
        expect(f.sha256).to.equal(here.frames![i]!.sha256);
        expect(Buffer.from(f.data).equals(Buffer.from(here.frames![i]!.data))).to.equal(true);
        // Frames view the one transferred message buffer, as prepareMessage's do.
        expect(f.data.buffer).to.equal(there.bytes.buffer);
      });
      expect(values.length, 'the caller keeps its values').to.equal(300_000);
    }
  });
});

