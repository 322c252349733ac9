import { expect } from 'chai';
import { createStrategy, type StrategyConfigInput } from '../../shared/aggregation/strategy.js';
import { UpdateCompressor } from '../../shared/compression/error-feedback.js';
import { clipL2 } from '../../shared/privacy/clip.js';
import { noiseCentralMean } from '../../shared/privacy/dp-fedavg.js';
import { gaussianSource } from '../../shared/privacy/noise.js';
import { computeEpsilon } from '../../shared/privacy/rdp.js';
import { seededUniform } from '../../shared/random.js';
import { UpdateProtection, type ProtectionSettings } from '../../shared/round/update-protection.js';
import { plannerFromStrategy } from '../../shared/round/planner.js';
import type { FitConfig } from '../../shared/training/types.js';
import { VirtualFederation, type RoundVector, type VirtualClient, type VirtualRound } from '../../simulations/federated/virtual-federation.js';

const IDS = ['a', 'b', 'c', 'd'];
/** Client k moves coordinate j by (k + 1)·(j + 1)/4 and reports k + 1 examples; `d` may attack (×100). */
const deltaOf = (k: number, dim: number, attack = false) => Float32Array.from({ length: dim }, (_, j) => ((k + 1) * (j + 1)) / 4 * (attack && k === 3 ? 100 : 1));

function clients(dim: number, o: { attack?: boolean; configs?: FitConfig[]; slice?: (d: Float32Array) => Float32Array } = {}): Map<string, VirtualClient> {
  return new Map(IDS.map((id, k) => [id, {
    ignoresPrivacy: Boolean(o.attack) && k === 3,
    fit: async (_g: Float32Array, config: FitConfig) => {
      o.configs?.push(config);
      const d = deltaOf(k, dim, o.attack);
      return { delta: o.slice && config.trainOnly ? o.slice(d) : d, numExamples: k + 1, metrics: {} };
    },
  }]));
}

const ALL: StrategyConfigInput = { clientsPerRound: 4, minFitClients: 1, overSelection: 1, evaluateEvery: 0 };

async function run(o: {
  settings: Omit<ProtectionSettings, 'clientsPerRound'>; rounds?: number; dim?: number; attack?: boolean; secagg?: boolean;
  options?: ConstructorParameters<typeof UpdateProtection>[2];
}) {
  const dim = o.dim ?? 3;
  const rounds: VirtualRound[] = [];
  const protection = new UpdateProtection({ ...o.settings, clientsPerRound: 4 }, [], o.options);
  const vf = new VirtualFederation({
    federationId: 'p', seed: 7, rounds: o.rounds ?? 1, strategy: createStrategy(ALL), initial: new Float32Array(dim),
    clients: clients(dim, { attack: o.attack }), protection, onRound: (r) => { rounds.push(r); },
    clientNoiseOf: (round, id) => gaussianSource(seededUniform(`client/${round}/${id}`)),
    ...(o.secagg ? { secureAggregation: { clip: 8 } } : {}),
  });
  const final = await vf.run();
  return { rounds, final, vf, protection };
}

describe('VirtualFederation with the coordinator\'s UpdateProtection: DP, robust rules and compression on the round engine', () => {
  it('central DP: clipped, weighted 1, noised from the round\'s seeded stream, and charged to the accountant', async () => {
    const { rounds, final } = await run({
      settings: { dp: { enabled: true, clipNorm: 1, noiseMultiplier: 0.8, delta: 1e-5, sampling: 'fixed-size' } },
      options: { centralNoise: (round) => gaussianSource(seededUniform(`central/${round}`)) },
    });
    const sum = new Float64Array(3);
    for (let k = 0; k < 4; k++) clipL2(deltaOf(k, 3), 1).values.forEach((v, j) => { sum[j]! += v; });
    const mean = Float32Array.from(sum, (s) => s / 4);
    const want = noiseCentralMean(mean, 4, 1, 0.8, gaussianSource(seededUniform('central/1')));
    expect([...final]).to.deep.equal([...want]);
    expect(rounds[0]!.totalWeight).to.equal(4);
    expect(rounds[0]!.metrics['agg.dpEpsilon']).to.equal(computeEpsilon({ samplingRate: 1, noiseMultiplier: 0.8, steps: 1, delta: 1e-5, sampling: 'fixed-size' }).epsilon);
    expect(rounds[0]!.metrics['agg.dpSamplingRate']).to.equal(1);
  });

  it('the ε budget pauses the engine before a round that would pass it, and the run ends there', async () => {
    const one = computeEpsilon({ samplingRate: 1, noiseMultiplier: 0.8, steps: 1, delta: 1e-5, sampling: 'fixed-size' }).epsilon;
    const { rounds, vf } = await run({ rounds: 3, settings: { dp: { enabled: true, clipNorm: 1, noiseMultiplier: 0.8, delta: 1e-5, sampling: 'fixed-size', epsilonBudget: one * 1.2 } } });
    expect(rounds.map((r) => r.status)).to.deep.equal(['completed']);
    expect(vf.stoppedBy).to.match(/round 2 cannot start: privacy budget exhausted: 1 round\(s\) spent ε = /);
  });

  it('median: the attacker\'s ×100 update does not move the coordinate-wise median', async () => {
    const { final } = await run({ attack: true, settings: { robustAggregation: { rule: 'median' } } });
    // Per coordinate j the updates are (1, 2, 3, 400)·(j + 1)/4: the median is 2.5·(j + 1)/4.
    expect([...final]).to.deep.equal([0.625, 1.25, 1.875]);
  });

  it('norm bound under SecAgg+: honest clients clip themselves, an attacker that skips it is not clipped', async () => {
    const { final, rounds } = await run({ attack: true, secagg: true, settings: { robustAggregation: { rule: 'norm-bound', maxNorm: 0.5 }, secureAggregation: { clip: 8 } } });
    expect(rounds[0]!.contributors).to.have.length(4);
    // Example-weighted (1..4): three clipped honest updates and d's ×100 update, clipped by SecAgg's coordinate clip 8.
    const want = [0, 1, 2].map((j) => {
      let s = 0;
      for (let k = 0; k < 3; k++) s += (k + 1) * clipL2(deltaOf(k, 3), 0.5).values[j]!;
      return (s + 4 * Math.min(8, deltaOf(3, 3, true)[j]!)) / 10;
    });
    final.forEach((v, j) => expect(v).to.be.closeTo(want[j]!, 1e-3));
  });

  it('q8 uploads: the server decodes what the real client encoded, with its error feedback carried across rounds', async () => {
    const dim = 40;
    const { final, rounds } = await run({ dim, rounds: 2, settings: { uploadCompression: { codec: 'q8', topkFraction: 0.01, errorFeedback: true } } });
    const want = new Float64Array(dim);
    let encodedBytes = 0;
    for (let k = 0; k < 4; k++) {
      const c = new UpdateCompressor({ codec: 'q8', topkFraction: 0.01, errorFeedback: true });
      for (let r = 0; r < 2; r++) {
        const out = c.compress(deltaOf(k, dim));
        if (r === 0) encodedBytes += out.bytes.byteLength;
        out.decoded.forEach((v, j) => { want[j]! += ((k + 1) * v) / 10; });
      }
    }
    final.forEach((v, j) => expect(v).to.be.closeTo(want[j]!, 1e-5));
    expect(rounds[0]!.metrics['agg.uploadBytes']).to.equal(encodedBytes);
    expect(encodedBytes).to.be.below((4 * dim * 4) / 2);
  });

  it('a planner whose short draw fails the round (Poisson): the round counts and the next one runs', async () => {
    const strategy = createStrategy(ALL);
    const base = plannerFromStrategy(strategy);
    const rounds: VirtualRound[] = [];
    const vf = new VirtualFederation({
      federationId: 'p', seed: 7, rounds: 3, strategy, initial: new Float32Array(3), clients: clients(3),
      planner: { ...base, shortSelectionFails: true, configureFit: (round, av, rng) => (round === 2 ? [] : base.configureFit(round, av, rng)) },
      onRound: (r) => { rounds.push(r); },
    });
    await vf.run();
    expect(rounds.map((r) => [r.round, r.status, r.participants.length])).to.deep.equal([[1, 'completed', 4], [2, 'failed', 0], [3, 'completed', 4]]);
    expect(rounds[1]!.reason).to.match(/selection drew 0 client\(s\), fewer than the quorum of 1/);
  });

  it('a round vector (PEFT slice): clients train only the slice, the engine aggregates it, the rest stays frozen', async () => {
    const configs: FitConfig[] = [];
    const strategy = createStrategy(ALL);
    const rounds: VirtualRound[] = [];
    const slice: RoundVector = {
      length: 2, trainOnly: ['w0', 'w2'],
      scatter: (m) => Float32Array.of(m[0]!, 0, m[1]!),
    };
    const vf = new VirtualFederation({
      federationId: 'p', seed: 7, rounds: 2, strategy, initial: new Float32Array(3), onRound: (r) => { rounds.push(r); },
      clients: clients(3, { configs, slice: (d) => Float32Array.of(d[0]!, d[2]!) }),
      roundVector: (round) => (round === 2 ? slice : undefined),
    });
    const final = await vf.run();
    expect(configs.filter((c) => c.round === 1).every((c) => c.trainOnly === undefined)).to.equal(true);
    expect(configs.filter((c) => c.round === 2).map((c) => c.trainOnly)).to.deep.equal(new Array(4).fill(['w0', 'w2']));
    // Example-weighted mean of (k + 1)·(j + 1)/4 is 3·(j + 1)/4 per round; the middle weight moves in round 1 only.
    expect([...final]).to.deep.equal([1.5, 1.5, 4.5]);
    expect(rounds[1]!.bytesUp).to.be.below(rounds[0]!.bytesUp);
  });
});
