import { expect } from 'chai';
import seedrandom from 'seedrandom';
import { createStrategy, parseStrategyConfig, type ClientProxy } from '../../shared/aggregation/index.js';
import { ConfigError, FedProfileError } from '../../shared/errors.js';

const clients = (n: number): ClientProxy[] => Array.from({ length: n }, (_, i) => ({ id: `client-${String(i).padStart(3, '0')}` }));

describe('aggregation: strategy config', () => {
  it('fills defaults', () => {
    const c = parseStrategyConfig({});
    expect(c).to.include({ name: 'fedavg', clientsPerRound: 10, overSelection: 1.3, minFitClients: 2, optimizer: 'adam', pretrainRounds: 0 });
  });

  it('names every bad field in one readable error', () => {
    try {
      parseStrategyConfig({ name: 'fedsgd', clientsPerRound: 0, learningRate: -1, clientPerRound: 5 });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).to.include('strategy.name').and.include('fedavg');
      expect(msg).to.include('strategy.clientsPerRound');
      expect(msg).to.include('strategy.learningRate');
      expect(msg).to.include('clientPerRound');
    }
  });

  it('defaults the quorum to min(2, clientsPerRound)', () => {
    expect(parseStrategyConfig({ clientsPerRound: 1 }).minFitClients).to.equal(1);
    expect(parseStrategyConfig({ clientsPerRound: 50 }).minFitClients).to.equal(2);
  });

  it('checks cross-field rules: quorum ≤ clientsPerRound, fedprox needs μ > 0', () => {
    expect(() => parseStrategyConfig({ clientsPerRound: 3, minFitClients: 5 })).to.throw(ConfigError, /strategy\.minFitClients: must be ≤ clientsPerRound \(3\)/);
    expect(() => parseStrategyConfig({ name: 'fedprox', proximalMu: 0 })).to.throw(ConfigError, /strategy\.proximalMu/);
  });
});

describe('aggregation: strategy', () => {
  it('configureFit samples deterministically with over-selection, regardless of input order', () => {
    const s = createStrategy({ clientsPerRound: 10, overSelection: 1.3, minFitClients: 5 });
    const pool = clients(40);
    const a = s.configureFit(1, pool, seedrandom('round-1'));
    const b = s.configureFit(1, [...pool].reverse(), seedrandom('round-1'));
    expect(a).to.have.length(13);
    expect(a).to.deep.equal(b);
    expect(new Set(a.map((f) => f.clientId)).size).to.equal(13);
    const c = s.configureFit(1, pool, seedrandom('round-2'));
    expect(c.map((f) => f.clientId)).to.not.deep.equal(a.map((f) => f.clientId));
    expect(a[0]!.config).to.include({ round: 1, phase: 'finetune', localEpochs: 1, batchSize: 32, optimizer: 'adam' });
    expect(a[0]!.config.proximalMu).to.equal(undefined);
    expect(Number.isInteger(a[0]!.config.seed)).to.equal(true);
  });

  it('caps over-selection by availability and waits (asks nobody) below the quorum', () => {
    const s = createStrategy({ clientsPerRound: 10, minFitClients: 5 });
    expect(s.configureFit(1, clients(11), seedrandom('x'))).to.have.length(11);
    expect(s.configureFit(1, clients(4), seedrandom('x'))).to.deep.equal([]);
    expect(s.minFitResults()).to.equal(5);
  });

  it('samples uniformly: every client is picked about equally often', () => {
    const s = createStrategy({ clientsPerRound: 5, overSelection: 1, minFitClients: 1 });
    const counts = new Map<string, number>();
    const rng = seedrandom('uniform');
    for (let r = 1; r <= 2000; r++) for (const f of s.configureFit(r, clients(20), rng)) counts.set(f.clientId, (counts.get(f.clientId) ?? 0) + 1);
    // Expected 500 each; binomial sd ≈ 19.4, so ±100 is > 5 sd.
    for (const n of counts.values()) expect(n).to.be.within(400, 600);
    expect(counts.size).to.equal(20);
  });

  it('FedProx sends μ, the phase schedule switches from pretrain to finetune', () => {
    const s = createStrategy({ name: 'fedprox', proximalMu: 0.05, pretrainRounds: 2, clientsPerRound: 2, minFitClients: 1 });
    expect(s.configureFit(1, clients(3), seedrandom('p'))[0]!.config).to.include({ proximalMu: 0.05, phase: 'pretrain' });
    expect(s.configureFit(2, clients(3), seedrandom('p'))[0]!.config.phase).to.equal('pretrain');
    expect(s.configureFit(3, clients(3), seedrandom('p'))[0]!.config.phase).to.equal('finetune');
  });

  it('FedAvg/FedProx aggregateFit is global + meanDelta and reports metrics', async () => {
    for (const name of ['fedavg', 'fedprox'] as const) {
      const s = createStrategy({ name, minFitClients: 2 });
      const { weights, metrics } = await s.aggregateFit(1, Float32Array.of(1, 2), Float32Array.of(0.5, -1), { contributors: 3, totalWeight: 120, failures: 1 });
      expect(Array.from(weights)).to.deep.equal([1.5, 1]);
      expect(metrics).to.include({ contributors: 3, failures: 1, totalWeight: 120, serverStep: 1 });
      expect(metrics.meanDeltaNorm).to.be.closeTo(Math.sqrt(1.25), 1e-12);
    }
  });

  it('aggregateFit gives bit-identical weights, metrics and state however often it yields', async () => {
    const n = 10_007;
    const global = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const delta = Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 0.01);
    const info = { contributors: 4, totalWeight: 400, failures: 0 };
    for (const name of ['fedavg', 'fedavgm', 'fedadam', 'fedyogi'] as const) {
      const a = createStrategy({ name, minFitClients: 1 });
      const b = createStrategy({ name, minFitClients: 1 });
      const s1 = await a.aggregateFit(1, global, delta, info, { yieldEvery: n });
      const s2 = await b.aggregateFit(1, global, delta, info, { yieldEvery: 1000 });
      expect(Buffer.from(s2.weights.buffer).equals(Buffer.from(s1.weights.buffer)), name).to.equal(true);
      expect(s2.metrics.serverStepNorm).to.be.closeTo(s1.metrics.serverStepNorm!, 1e-12);
      expect(b.state()).to.deep.equal(a.state());
    }
  });

  it('the federated statistics take the plain mean under FedAvgM and FedAdam; every other weight takes the server step', async () => {
    // Positions 2..4 are a count table: global + mean delta is the pooled table, momentum or scaling would corrupt it.
    const exactRanges = [[2, 5]] as const;
    const info = { contributors: 2, totalWeight: 20, failures: 0 };
    for (const cfg of [{ name: 'fedavgm', serverLearningRate: 1, serverMomentum: 0.9 }, { name: 'fedadam', serverLearningRate: 0.1 }]) {
      const s = createStrategy({ ...cfg, minFitClients: 1, clientsPerRound: 2 });
      const plain = createStrategy({ ...cfg, minFitClients: 1, clientsPerRound: 2 });
      let global: Float32Array = Float32Array.of(1, -1, 0.5, 0.25, 2, 3);
      let plainGlobal: Float32Array = global.slice();
      for (const [round, delta] of [[1, Float32Array.of(0.1, 0.2, 0.25, -0.125, 1, 0.3)], [2, Float32Array.of(0.1, 0.2, 0.5, 0.75, -1, 0.3)]] as const) {
        const { weights } = await s.aggregateFit(round, global, delta, info, { exactRanges });
        const other = await plain.aggregateFit(round, plainGlobal, delta, info);
        for (let i = 2; i < 5; i++) expect(weights[i], `${cfg.name} round ${round} [${i}]`).to.equal(Math.fround(global[i]! + delta[i]!));
        for (const i of [0, 1, 5]) expect(weights[i], `${cfg.name} round ${round} [${i}]`).to.equal(other.weights[i]);
        if (round === 2) expect(other.weights[2], 'without the ranges the optimiser moves the table off its mean').to.not.equal(Math.fround(global[2]! + delta[2]!));
        global = weights;
        plainGlobal = other.weights;
      }
    }
  });

  it('aggregateFit refuses to aggregate below quorum', async () => {
    const s = createStrategy({ minFitClients: 3 });
    const err = await s.aggregateFit(1, new Float32Array(2), new Float32Array(2), { contributors: 2, totalWeight: 10, failures: 4 }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(FedProfileError).and.have.property('message').that.match(/2 result\(s\), quorum is 3/);
  });

  it('state() / restore() resumes FedAdam exactly where it stopped', async () => {
    const cfg = { name: 'fedadam', serverLearningRate: 0.1, minFitClients: 1, clientsPerRound: 1 };
    const info = { contributors: 1, totalWeight: 1, failures: 0 };
    const a = createStrategy(cfg);
    const r1 = await a.aggregateFit(1, Float32Array.of(1, -2), Float32Array.of(0.1, -0.2), info);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const r2 = await a.aggregateFit(2, r1.weights, Float32Array.of(-0.05, 0.3), info);
    const b = createStrategy(cfg);
    b.restore(saved);
    const r2b = await b.aggregateFit(2, r1.weights, Float32Array.of(-0.05, 0.3), info);
    expect(Array.from(r2b.weights)).to.deep.equal(Array.from(r2.weights));
    expect(b.state().lastRound).to.equal(2);
    expect(() => createStrategy({ name: 'fedyogi' }).restore(saved)).to.throw(FedProfileError, /cannot restore strategy "fedyogi"/);
  });

  it('configureEvaluate follows the cadence and fraction', () => {
    const s = createStrategy({ evaluateEvery: 2, fractionEvaluate: 0.25, minEvaluateClients: 2 });
    expect(s.configureEvaluate(1, clients(20), seedrandom('e'))).to.deep.equal([]);
    expect(s.configureEvaluate(2, clients(20), seedrandom('e'))).to.have.length(5);
    expect(s.configureEvaluate(2, clients(4), seedrandom('e'))).to.have.length(2);
    expect(createStrategy({ evaluateEvery: 0 }).configureEvaluate(1, clients(5), seedrandom('e'))).to.deep.equal([]);
  });

  it('aggregateEvaluate is an example-weighted average that skips undefined metrics and counts them', () => {
    const s = createStrategy({});
    const out = s.aggregateEvaluate(1, [
      { clientId: 'a', numExamples: 10, metrics: { loss: 1, auc: 0.5 } },
      { clientId: 'b', numExamples: 30, metrics: { loss: 2, auc: NaN } },
      { clientId: 'c', numExamples: 0, metrics: { loss: 100 } },
    ]);
    expect(out).to.deep.equal({ auc: 0.5, loss: 1.75, evalClients: 2, evalExamples: 40, evalDropped: 2 });
  });
});
