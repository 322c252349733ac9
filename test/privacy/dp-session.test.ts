import { expect } from 'chai';
import seedrandom from 'seedrandom';
import { PlainClientSession, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import {
  CentralDpServerSession, computeEpsilon, gaussianSource, noiseCentralMean, privatizeClientUpdate, RdpAccountant,
  distributedNoiseStd, effectiveNoiseMultiplier, roundingL2Bound,
} from '../../shared/privacy/index.js';
import { FedProfileError } from '../../shared/errors.js';

const v = (...xs: number[]) => Float32Array.from(xs);

function round(session: CentralDpServerSession, updates: Float32Array[]): void {
  const ids = updates.map((_, i) => `c${i}`);
  session.begin(ids);
  updates.forEach((u, i) => {
    const [m] = new PlainClientSession().submit(u, 50); // the client's example count is ignored under DP
    session.handle(ids[i]!, m!.type, m!.payload);
  });
}

describe('privacy: central DP-FedAvg session', () => {
  it('clips each update, weights all equally, noises the mean with zC/n and reports ε for the round', () => {
    const accountant = new RdpAccountant({ sampling: 'fixed-size', delta: 1e-5 });
    const s = new CentralDpServerSession(new PlainServerSession({ vectorLength: 2, minResults: 1 }), {
      clipNorm: 1, noiseMultiplier: 2, samplingRate: 0.1, accountant, normal: gaussianSource(seedrandom('n')),
    });
    round(s, [v(3, 4), v(0.3, 0.4), v(0, -10)]);
    const o = s.outcome();
    expect(o.status).to.equal('done');
    if (o.status !== 'done') return;
    // Clipped: (0.6, 0.8), (0.3, 0.4), (0, -1); mean (0.3, 0.0667); then the same seeded noise of std 2/3.
    const clean = v(0.9 / 3, 0.2 / 3);
    const want = noiseCentralMean(clean, 3, 1, 2, gaussianSource(seedrandom('n')));
    expect(o.mean[0]).to.be.closeTo(want[0]!, 1e-6);
    expect(o.mean[1]).to.be.closeTo(want[1]!, 1e-6);
    expect(o.totalWeight).to.equal(3);
    expect(o.metrics.dpUnclippedArrivals).to.be.closeTo(2 / 3, 1e-12);
    expect(o.metrics.dpEpsilon).to.be.closeTo(computeEpsilon({ samplingRate: 0.1, noiseMultiplier: 2, steps: 1, delta: 1e-5, sampling: 'fixed-size' }).epsilon, 1e-12);
    // Reading the outcome again does not charge the accountant twice.
    s.outcome();
    expect(accountant.rounds).to.equal(1);
  });

  it('refuses a round that would pass the ε budget, before any update is taken', () => {
    const one = computeEpsilon({ samplingRate: 0.5, noiseMultiplier: 1, steps: 1, delta: 1e-5, sampling: 'fixed-size' }).epsilon;
    const accountant = new RdpAccountant({ sampling: 'fixed-size', delta: 1e-5, epsilonBudget: one * 1.01 });
    const make = () => new CentralDpServerSession(new PlainServerSession({ vectorLength: 1, minResults: 1 }), { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.5, accountant });
    const first = make();
    round(first, [v(1), v(2)]);
    expect(first.outcome().status).to.equal('done');
    const second = make();
    second.begin(['a']);
    const o = second.outcome();
    expect(o.status).to.equal('aborted');
    if (o.status === 'aborted') expect(o.reason).to.match(/privacy budget/);
    expect(() => second.handle('a', 'plain/update', { update: v(1), weight: 1 })).to.throw(FedProfileError, /privacy budget/);
    expect(accountant.rounds).to.equal(1);
  });

  it('distributed noise shares add up to zC on the sum; fewer contributors lower the effective multiplier', () => {
    const k = 16;
    const std = distributedNoiseStd(0.5, 1.2, k);
    const normal = gaussianSource(seedrandom('shares'));
    const m = 20_000;
    const sum = new Float64Array(m);
    for (let c = 0; c < k; c++) {
      const p = privatizeClientUpdate(new Float32Array(m), { clipNorm: 0.5, noiseStd: std }, normal);
      for (let i = 0; i < m; i++) sum[i]! += p.values[i]!;
    }
    const sd = Math.sqrt(sum.reduce((s, x) => s + x * x, 0) / m);
    expect(sd).to.be.closeTo(1.2 * 0.5, 0.01);
    expect(effectiveNoiseMultiplier({ mode: 'distributed', clipNorm: 0.5, noiseMultiplier: 1.2, contributors: 16, plannedContributors: 16 })).to.be.closeTo(1.2, 1e-12);
    expect(effectiveNoiseMultiplier({ mode: 'distributed', clipNorm: 0.5, noiseMultiplier: 1.2, contributors: 4, plannedContributors: 16 })).to.be.closeTo(0.6, 1e-12);
    // Rounding to the grid 2^-20 moves a 1M-vector by at most √1e6·2^-20 ≈ 9.5e-4 in L2.
    expect(roundingL2Bound(1_000_000, 20)).to.be.closeTo(1000 / 1048576, 1e-12);
    expect(effectiveNoiseMultiplier({ mode: 'central', clipNorm: 1, noiseMultiplier: 1, contributors: 3, plannedContributors: 3, roundingL2: 0.01 })).to.be.closeTo(1 / 1.01, 1e-12);
  });
});
