import { expect } from 'chai';
import { coordinateMedian } from '../../shared/aggregation/robust/rules.js';
import { clipL2, computeEpsilon } from '../../shared/privacy/index.js';
import type { FitConfig, FitResult } from '../../shared/training/types.js';
import type { WeightManifest } from '../../shared/weights/manifest.js';
import { LeastSquaresTrainer, TINY_MODEL, TINY_DIM } from '../runtime/fixtures/least-squares-trainer.js';
import {
  api, createFederation, issueToken, newClient, useTestCoordinator, waitFor, weightsOf,
} from '../runtime/fixtures/harness.js';

const DIM = TINY_DIM;
const FIT = { localEpochs: 2, learningRate: 0.05 };

/** A poisoning client: trains honestly, then sends its update sign-flipped and scaled. */
class SignFlipTrainer extends LeastSquaresTrainer {
  constructor(seed: string, readonly scale: number) { super(DIM, 9, seed); }
  override async fit(global: Float32Array, manifest: WeightManifest, config: FitConfig): Promise<FitResult> {
    const r = await super.fit(global, manifest, config);
    return { ...r, delta: r.delta.map((v) => -this.scale * v) };
  }
}

describe('privacy and robustness wired into a real federation (loopback sockets)', function () {
  this.timeout(60_000);
  const env = useTestCoordinator('dp-fed');

  async function join(fed: string, trainers: LeastSquaresTrainer[]): Promise<void> {
    for (const [i, t] of trainers.entries()) {
      const c = newClient(env.coord.url, await issueToken(env.coord.url, fed), t, `${env.dir}/${fed}-${i}`);
      env.clients.push(c);
      await c.start();
    }
    await waitFor('all clients online', async () => (await api(env.coord.url, 'GET', `/federations/${fed}`)).json.live.online === trainers.length);
  }

  it('central DP: clipped, noised mean committed; ε per round in rounds, API and /metrics; the federation pauses before passing its budget', async () => {
    const z = 0.5;
    const C = 0.05;
    const q = 0.5; // cohort 2 of 4 online clients
    const perRound = (steps: number) => computeEpsilon({ samplingRate: q, noiseMultiplier: z, steps, delta: 1e-5, sampling: 'fixed-size' }).epsilon;
    // Room for two rounds, not three.
    const budget = (perRound(2) + perRound(3)) / 2;
    const fed = await createFederation(env.coord.url, {
      name: 'dp', model: TINY_MODEL, rounds: 5, deadlines: { trainMs: 5000 },
      strategy: { clientsPerRound: 2, minFitClients: 2, overSelection: 1, localEpochs: FIT.localEpochs, learningRate: FIT.learningRate, optimizer: 'sgd', evaluateEvery: 0 },
      dp: { enabled: true, mode: 'central', clipNorm: C, noiseMultiplier: z, delta: 1e-5, epsilonBudget: budget },
    });
    const trainers = [0, 1, 2, 3].map((i) => new LeastSquaresTrainer(DIM, 9, `dp-${i}`));
    await join(fed, trainers);
    const before = await weightsOf(env.coord.url, fed, 0);
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    const paused = await waitFor('the budget pause', async () => {
      const f = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json;
      return f.status === 'paused' ? f : undefined;
    });
    expect(paused.completedRounds).to.equal(2);
    expect(paused.statusReason).to.match(/round 3 cannot start: privacy budget exhausted: 2 round\(s\) spent ε = [\d.]+ at δ = 0\.00001; one more would reach ε = [\d.]+, past dp\.epsilonBudget/);
    expect(paused.privacy.epsilon).to.be.closeTo(perRound(2), 1e-9);
    expect(paused.privacy).to.include({ mode: 'central', rounds: 2, epsilonBudget: budget, noiseMultiplier: z, clipNorm: C });
    const rounds = (await api(env.coord.url, 'GET', `/federations/${fed}/rounds`)).json.rounds as Array<{ round: number; contributors: string[]; metrics: Record<string, number> }>;
    expect(rounds.map((r) => r.round)).to.deep.equal([1, 2]);
    expect(rounds[0]!.metrics['agg.dpEpsilon']).to.be.closeTo(perRound(1), 1e-9);
    expect(rounds[1]!.metrics['agg.dpEpsilon']).to.be.closeTo(perRound(2), 1e-9);
    expect(rounds[0]!.metrics['agg.dpSamplingRate']).to.equal(q);
    const prom = await (await fetch(`${env.coord.url}/metrics`)).text();
    const line = prom.split('\n').find((l) => l.startsWith(`fedprofile_dp_epsilon{federation="${fed}"}`));
    expect(Number(line?.split(' ')[1])).to.be.closeTo(perRound(2), 1e-9);

    // Round 1 committed the mean of the two clipped updates plus N(0, (zC/2)²) per coordinate.
    const after = await weightsOf(env.coord.url, fed, 1);
    const ids = rounds[0]!.contributors;
    const mine = env.clients.map((c) => c.clientId);
    const clips = ids.map((id) => clipL2(trainers[mine.indexOf(id)]!.expectedDelta(before, FIT), C));
    // Both clients clipped their own update (asked to by the fit instruction): none arrived above C.
    expect(clips.filter((c) => c.clipped)).to.not.have.length(0);
    expect(rounds[0]!.metrics['agg.dpUnclippedArrivals']).to.equal(0);
    const deltas = clips.map((c) => c.values);
    let ss = 0;
    for (let i = 0; i < DIM; i++) {
      const noise = after[i]! - before[i]! - (deltas[0]![i]! + deltas[1]![i]!) / 2;
      ss += noise * noise;
    }
    const std = Math.sqrt(ss / DIM);
    expect(std).to.be.within(0.85 * z * C / 2, 1.15 * z * C / 2);

    // A restarted coordinator rebuilds the accountant from the committed rounds: same ε, still out of budget.
    await Promise.all(env.clients.splice(0).map((c) => c.stop()));
    await env.restart();
    const reopened = (await api(env.coord.url, 'GET', `/federations/${fed}`)).json;
    expect(reopened.privacy.epsilon).to.be.closeTo(perRound(2), 1e-9);
    expect(reopened.privacy.rounds).to.equal(2);
  });

  it('distributed DP under SecAgg+: clients noise before masking; ε charged with the contributors\' noise and the rounding bound', async () => {
    const z = 1;
    const C = 0.05;
    const fed = await createFederation(env.coord.url, {
      name: 'ddp', model: TINY_MODEL, rounds: 1, minClients: 3, deadlines: { trainMs: 20_000, aggregationStageMs: 10_000 },
      strategy: { clientsPerRound: 3, minFitClients: 3, overSelection: 1, localEpochs: FIT.localEpochs, learningRate: FIT.learningRate, optimizer: 'sgd', evaluateEvery: 0 },
      secureAggregation: { clip: 1, maxWeight: 1 },
      dp: { enabled: true, mode: 'distributed', clipNorm: C, noiseMultiplier: z },
    });
    const trainers = [0, 1, 2].map((i) => new LeastSquaresTrainer(DIM, 9, `ddp-${i}`));
    await join(fed, trainers);
    const before = await weightsOf(env.coord.url, fed, 0);
    await api(env.coord.url, 'POST', `/federations/${fed}/start`);
    const round = await waitFor('round 1 completed', async () => {
      const r = await api(env.coord.url, 'GET', `/federations/${fed}/rounds/1`);
      return r.json?.status === 'completed' ? r.json : undefined;
    });
    // Rounding of the TINY_DIM coordinates to the grid 2^-f (f from n = 3, clip 1) widens the sensitivity a little.
    const f = Math.floor(Math.log2(((2 ** 31 - 1) / 3 - 1) / 1));
    const sigma = (z * C) / (C + Math.sqrt(DIM) * 2 ** -f);
    expect(round.metrics['agg.dpNoiseMultiplier']).to.be.closeTo(sigma, 1e-12);
    expect(sigma).to.be.within(0.99999 * z, z);
    expect(round.metrics['agg.dpEpsilon']).to.be.closeTo(computeEpsilon({ samplingRate: 1, noiseMultiplier: sigma, steps: 1, delta: 1e-5, sampling: 'fixed-size' }).epsilon, 1e-9);
    // The unmasked mean carries the three noise shares: std zC/√3 each, so zC/3 on the mean of three.
    const after = await weightsOf(env.coord.url, fed, 1);
    const clean = trainers.map((t) => clipL2(t.expectedDelta(before, FIT), C).values);
    let ss = 0;
    for (let i = 0; i < DIM; i++) {
      const noise = after[i]! - before[i]! - (clean[0]![i]! + clean[1]![i]! + clean[2]![i]!) / 3;
      ss += noise * noise;
    }
    expect(Math.sqrt(ss / DIM)).to.be.within(0.85 * z * C / 3, 1.15 * z * C / 3);
  });

  it('median defeats a ×10 sign-flip client that drags the plain mean the wrong way', async () => {
    const run = async (rule: 'none' | 'median') => {
      const fed = await createFederation(env.coord.url, {
        name: `robust-${rule}`, model: TINY_MODEL, rounds: 1, deadlines: { trainMs: 5000 },
        strategy: { clientsPerRound: 5, minFitClients: 5, overSelection: 1, localEpochs: FIT.localEpochs, learningRate: FIT.learningRate, optimizer: 'sgd', evaluateEvery: 0 },
        robustAggregation: { rule },
      });
      const trainers: LeastSquaresTrainer[] = [0, 1, 2, 3].map((i) => new LeastSquaresTrainer(DIM, 9, `h-${i}`));
      trainers.push(new SignFlipTrainer('attacker', 10));
      await join(fed, trainers);
      const before = await weightsOf(env.coord.url, fed, 0);
      await api(env.coord.url, 'POST', `/federations/${fed}/start`);
      await waitFor(`round 1 of ${rule}`, async () => (await api(env.coord.url, 'GET', `/federations/${fed}/rounds/1`)).json?.status === 'completed');
      const after = await weightsOf(env.coord.url, fed, 1);
      const honest = trainers.slice(0, 4).map((t) => t.expectedDelta(before, FIT));
      const attack = trainers[4]!.expectedDelta(before, FIT).map((v) => -10 * v);
      await Promise.all(env.clients.splice(0).map((c) => c.stop()));
      return { before, after, honest, attack };
    };
    const loss = (w: Float32Array) => new LeastSquaresTrainer(DIM, 200, 'holdout').evaluate(w).then((r) => r.metrics.loss!);

    const plain = await run('none');
    const robust = await run('median');
    const want = coordinateMedian([...robust.honest, robust.attack]);
    for (let i = 0; i < DIM; i++) expect(robust.after[i]! - robust.before[i]!).to.be.closeTo(want[i]!, 1e-5);
    const [l0, lPlain, lRobust] = await Promise.all([loss(plain.before), loss(plain.after), loss(robust.after)]);
    // The same initial model (same seed): the attack makes the mean step uphill, the median still descends.
    expect(lPlain).to.be.greaterThan(l0);
    expect(lRobust).to.be.lessThan(l0);
  });

  it('refuses invalid combinations at creation, naming each field', async () => {
    const base = {
      name: 'bad', model: TINY_MODEL, rounds: 1,
      strategy: { clientsPerRound: 4, minFitClients: 3, overSelection: 1 },
    };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ secureAggregation: {}, robustAggregation: { rule: 'median' } }, /robustAggregation\.rule: "median" must see every individual update, which secure aggregation hides; with secureAggregation on only "norm-bound"/],
      [{ secureAggregation: {}, robustAggregation: { rule: 'multi-krum', byzantine: 1 } }, /robustAggregation\.rule: "multi-krum" must see every individual update/],
      [{ robustAggregation: { rule: 'multi-krum', byzantine: 1 } }, /robustAggregation\.byzantine: multi-Krum tolerating f = 1 attackers needs more than 2f \+ 2 = 4 clients per round, but strategy\.clientsPerRound is 4/],
      [{ dp: { enabled: true, mode: 'central' }, robustAggregation: { rule: 'trimmed-mean' } }, /robustAggregation\.rule: "trimmed-mean" cannot be combined with dp/],
      [{ dp: { enabled: true, mode: 'distributed', noiseMultiplier: 1 }, secureAggregation: { clip: 1 } }, /secureAggregation\.clip: distributed DP adds per-client noise of std 0\.5 .* must be at least dp\.clipNorm \+ 4·std = 3\.0000/],
      [{ dp: { enabled: true, sampling: 'poisson' } }, /dp\.sampling: the coordinator selects a fixed-size cohort/],
      [{ dp: { enabled: true, noiseMultiplier: -1 } }, /dp\.noiseMultiplier/],
      [{ dp: { enabled: false, epsilonBudget: 3 } }, /dp\.enabled: dp settings are given but dp\.enabled is false/],
      [{ robustAggregation: { rule: 'krum' } }, /robustAggregation\.rule/],
      [{ model: { ...TINY_MODEL, transitionItems: 8 }, compression: { download: 'q8' } }, /compression\.download: "q8" would round the federated transition statistics/],
      [{ model: { ...TINY_MODEL, transitionItems: 8 }, compression: { upload: { codec: 'topk', topkFraction: 0.1 } } }, /compression\.upload: "topk" would round or drop the federated transition statistics/],
    ];
    for (const [extra, message] of cases) {
      const r = await api(env.coord.url, 'POST', '/federations', { ...base, ...extra });
      expect(r.status, JSON.stringify(extra)).to.equal(400);
      expect(r.json.error.code).to.equal('BAD_INPUT');
      expect(r.json.error.message, JSON.stringify(extra)).to.match(message);
    }
    expect((await api(env.coord.url, 'GET', '/federations')).json.federations).to.have.length(0);
    // The same settings that SecAgg allows are accepted: norm bounding, and distributed DP with room for the noise.
    const ok = await api(env.coord.url, 'POST', '/federations', { ...base, secureAggregation: { clip: 4 }, dp: { enabled: true, mode: 'distributed', noiseMultiplier: 1 }, robustAggregation: { rule: 'norm-bound', maxNorm: 1 } });
    expect(ok.status, JSON.stringify(ok.json)).to.equal(201);
    expect(ok.json.privacy).to.deep.equal({ mode: 'distributed', epsilon: 0, delta: 1e-5, epsilonBudget: null, rounds: 0, noiseMultiplier: 1, clipNorm: 1 });
  });
});
