import { expect } from 'chai';
import seedrandom from 'seedrandom';
import {
  checkRobustAggregation, coordinateMedian, multiKrum, normBoundedMean, RobustAggregationSchema, RobustServerSession, trimmedMean,
} from '../../shared/aggregation/robust/index.js';
import { PlainClientSession } from '../../shared/aggregation/plain-session.js';
import { ConfigError, FedProfileError } from '../../shared/errors.js';

const v = (...xs: number[]) => Float32Array.from(xs);

describe('robust aggregation rules', () => {
  it('coordinate-wise median and trimmed mean give exact values and ignore one outlier', () => {
    const ups = [v(1, 10), v(2, 20), v(3, 30), v(1000, -1000)];
    expect(Array.from(coordinateMedian(ups))).to.deep.equal([2.5, 15]);
    expect(Array.from(coordinateMedian(ups.slice(0, 3)))).to.deep.equal([2, 20]);
    // β = 0.25 of 4 drops one value per side: (2 + 3)/2 and (10 + 20)/2.
    expect(Array.from(trimmedMean(ups, 0.25))).to.deep.equal([2.5, 15]);
    // β = 0: the plain mean, which the outlier drags away.
    expect(trimmedMean(ups, 0)[0]).to.equal(251.5);
    expect(() => trimmedMean(ups, 0.5)).to.throw(FedProfileError, /trimFraction/);
  });

  it('multi-Krum drops the updates far from the crowd and averages the rest', () => {
    const honest = [v(1, 1), v(1.1, 0.9), v(0.9, 1.1), v(1, 1.2), v(1.2, 1)];
    const ups = [...honest, v(-20, -20)];
    const r = multiKrum(ups, 1, 5);
    expect(r.selected).to.deep.equal([0, 1, 2, 3, 4]);
    expect(r.mean[0]).to.be.closeTo(1.04, 1e-6);
    expect(r.mean[1]).to.be.closeTo(1.04, 1e-6);
    expect(() => multiKrum(ups.slice(0, 4), 1, 2)).to.throw(FedProfileError, /more than 2f \+ 2 = 4/);
  });

  it('norm bounding scales only updates above the bound, then takes the weighted mean', () => {
    const r = normBoundedMean([v(3, 4), v(0.3, 0.4)], [1, 3], 1);
    expect(r.clipped).to.equal(1);
    // (0.6, 0.8)·1 + (0.3, 0.4)·3, over 4.
    expect(r.mean[0]).to.be.closeTo((0.6 + 0.9) / 4, 1e-7);
    expect(r.mean[1]).to.be.closeTo((0.8 + 1.2) / 4, 1e-7);
  });

  it('each rule defends against the attack it is meant for (15 % sign-flip ×10 on noisy honest updates)', () => {
    const rng = seedrandom('attack');
    const truth = Float32Array.from({ length: 64 }, () => rng() - 0.5);
    const honest = Array.from({ length: 17 }, () => truth.map((x) => x + 0.3 * (rng() - 0.5)));
    const attackers = Array.from({ length: 3 }, () => truth.map((x) => -10 * x));
    const all = [...honest, ...attackers];
    const err = (m: Float32Array) => Math.sqrt(m.reduce((s, x, i) => s + (x - truth[i]!) ** 2, 0) / m.length);
    const plain = normBoundedMean(all, all.map(() => 1), 1e9).mean;
    const bounded = normBoundedMean(all, all.map(() => 1), Math.sqrt(64 * (1 / 12 + 0.0075)) * 1.1).mean;
    const results = {
      mean: err(plain), median: err(coordinateMedian(all)), trimmed: err(trimmedMean(all, 0.2)),
      krum: err(multiKrum(all, 3, 14).mean), normBound: err(bounded),
    };
    // Undefended, the mean is pulled far past the truth; every rule stays close to it.
    expect(results.mean).to.be.above(0.4);
    for (const k of ['median', 'trimmed', 'krum'] as const) expect(results[k], k).to.be.below(0.06);
    // Norm bounding only limits each attacker to an honest-sized update: better, not immune.
    expect(results.normBound).to.be.below(results.mean / 2);
  });
});

describe('RobustServerSession', () => {
  const run = (rule: unknown, updates: Float32Array[]) => {
    const s = new RobustServerSession({ vectorLength: 2, minResults: 2, rule: RobustAggregationSchema.parse(rule) });
    const ids = updates.map((_, i) => `c${i}`);
    s.begin(ids);
    updates.forEach((u, i) => {
      const [msg] = new PlainClientSession().submit(u, 1);
      s.handle(ids[i]!, msg!.type, msg!.payload);
    });
    return s.outcome();
  };

  it('aggregates plain-client messages with the configured rule', () => {
    const out = run({ rule: 'median' }, [v(1, 10), v(2, 20), v(300, -30)]);
    expect(out.status).to.equal('done');
    if (out.status !== 'done') return;
    expect(Array.from(out.mean)).to.deep.equal([2, 10]);
    expect(out.contributors).to.deep.equal(['c0', 'c1', 'c2']);
  });

  it('rejects bad updates without losing the round, and aborts (with a reason) when Krum lacks updates', () => {
    const s = new RobustServerSession({ vectorLength: 2, minResults: 1, rule: { rule: 'median' } });
    s.begin(['a', 'b']);
    expect(() => s.handle('a', 'plain/update', { update: v(1, NaN), weight: 1 })).to.throw(FedProfileError, /non-finite/);
    expect(() => s.handle('a', 'plain/update', { update: v(1), weight: 1 })).to.throw(FedProfileError, /expected 2/);
    expect(() => s.handle('z', 'plain/update', { update: v(1, 2), weight: 1 })).to.throw(FedProfileError, /not a participant/);
    s.handle('a', 'plain/update', { update: v(1, 2), weight: 1 });
    expect(() => s.handle('a', 'plain/update', { update: v(1, 2), weight: 1 })).to.throw(FedProfileError, /already sent/);
    s.dropped('b');
    expect(s.outcome().status).to.equal('done');
    const k = run({ rule: 'multi-krum', byzantine: 1 }, [v(1, 1), v(2, 2), v(3, 3)]);
    expect(k.status).to.equal('aborted');
    if (k.status === 'aborted') expect(k.reason).to.match(/more than 2f \+ 2/);
  });

  it('config: only norm bounding is allowed with SecAgg, and Krum needs enough clients', () => {
    const median = RobustAggregationSchema.parse({ rule: 'median' });
    expect(() => checkRobustAggregation(median, { secureAggregation: true, clientsPerRound: 10 })).to.throw(ConfigError, /only "norm-bound"/);
    expect(() => checkRobustAggregation(RobustAggregationSchema.parse({ rule: 'norm-bound', maxNorm: 1 }), { secureAggregation: true, clientsPerRound: 10 })).not.to.throw();
    expect(() => checkRobustAggregation(RobustAggregationSchema.parse({ rule: 'multi-krum', byzantine: 4 }), { secureAggregation: false, clientsPerRound: 10 })).to.throw(ConfigError, /more than 10 clients/);
  });
});
