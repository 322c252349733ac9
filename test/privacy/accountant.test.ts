import { expect } from 'chai';
import {
  computeEpsilon, epsilonFromRdp, noiseForEpsilon, RdpAccountant, rdpFixedSizeGaussian, rdpPoissonGaussian,
} from '../../shared/privacy/index.js';
import { logErfc } from '../../shared/privacy/log-math.js';
import { FedProfileError } from '../../shared/errors.js';

/** Relative closeness, for reference values quoted to a few significant digits. */
function expectRel(actual: number, expected: number, rtol: number): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).to.be.at.most(rtol * Math.abs(expected));
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('privacy: RDP of the Poisson-subsampled Gaussian', () => {
  it('matches TF Privacy rdp_accountant_test (q = 0.01, σ = 2.5, 50 steps; integer and fractional orders)', () => {
    // tensorflow_privacy/privacy/analysis/rdp_accountant_test.py, test_compute_rdp_sequence:
    // compute_rdp(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100]) = [6.5007e-04, 1.0854e-03, 2.1808e-03, 2.3846e-02, 1.6742e+02], rtol 1e-4.
    const rdp = rdpPoissonGaussian(0.01, 2.5, [1.5, 2.5, 5, 50, 100]).map((r) => r * 50);
    [6.5007e-4, 1.0854e-3, 2.1808e-3, 2.3846e-2, 1.6742e2].forEach((e, i) => expectRel(rdp[i]!, e, 1e-4));
    // test_compute_rdp_scalar: compute_rdp(0.1, 2, 10, 5) = 0.07737 (5 places).
    expect(rdpPoissonGaussian(0.1, 2, [5])[0]! * 10).to.be.closeTo(0.07737, 5e-6);
  });

  it('reduces to α/(2σ²) without subsampling and to 0 without data', () => {
    expect(rdpPoissonGaussian(1, 10, [20])).to.deep.equal([0.1]);
    expect(rdpPoissonGaussian(0, 10, [20])).to.deep.equal([0]);
  });

  it('log erfc is accurate from the bulk to the far tail', () => {
    expectRel(Math.exp(logErfc(0.5)), 0.4795001221869535, 1e-13);
    expectRel(Math.exp(logErfc(-1)), 1.8427007929497148, 1e-13);
    expectRel(Math.exp(logErfc(3)), 2.209049699858544e-5, 1e-12);
    // erfc(30) = 2.5646562037561116e-393 underflows a double; its log does not.
    expectRel(logErfc(30), Math.log(2.5646562037561116) - 393 * Math.LN10, 1e-12);
  });
});

describe('privacy: RDP of fixed-size sampling without replacement', () => {
  it('matches TF Privacy rdp_accountant_test (Wang, Balle & Kasiviswanathan 2019, Theorem 27)', () => {
    // test_compute_rdp_sequence_without_replacement: compute_rdp_sample_without_replacement(0.01, 2.5, 50,
    // [1.001, 1.5, 2.5, 5, 50, 100, 256, 512, 1024]) = [3.4701e-3, 3.4701e-3, 4.6386e-3, 8.7634e-3, 9.8474e-2,
    // 1.6776e2, 7.9297e2, 1.8174e3, 3.8656e3], rtol 1e-4.
    const orders = [1.001, 1.5, 2.5, 5, 50, 100, 256, 512, 1024];
    const expected = [3.4701e-3, 3.4701e-3, 4.6386e-3, 8.7634e-3, 9.8474e-2, 1.6776e2, 7.9297e2, 1.8174e3, 3.8656e3];
    const rdp = rdpFixedSizeGaussian(0.01, 2.5, orders).map((r) => r * 50);
    expected.forEach((e, i) => expectRel(rdp[i]!, e, 1e-4));
  });

  it('costs more privacy than Poisson sampling at the same rate (replace-one vs add/remove-one)', () => {
    const a = computeEpsilon({ samplingRate: 0.05, noiseMultiplier: 1, steps: 100, delta: 1e-5, sampling: 'poisson' });
    const b = computeEpsilon({ samplingRate: 0.05, noiseMultiplier: 1, steps: 100, delta: 1e-5, sampling: 'fixed-size' });
    expect(b.epsilon).to.be.above(a.epsilon);
  });
});

describe('privacy: RDP → (ε, δ)', () => {
  it('reproduces TF Privacy compute_dp_sgd_privacy (Poisson, improved conversion, default orders)', () => {
    // compute_dp_sgd_privacy_test.py: (n = 60000, batch 150, σ = 1.3, 15 epochs, δ = 1e-5) → ε = 0.7242234026109595
    // at order 19; (n = 100000, batch 100, σ = 1.0, 30 epochs, δ = 1e-7) → ε = 1.4154988495444842 at order 13.
    const a = computeEpsilon({ samplingRate: 150 / 60_000, noiseMultiplier: 1.3, steps: 6_000, delta: 1e-5 });
    expectRel(a.epsilon, 0.7242234026109595, 1e-9);
    expect(a.order).to.equal(19);
    const b = computeEpsilon({ samplingRate: 100 / 100_000, noiseMultiplier: 1.0, steps: 30_000, delta: 1e-7 });
    expectRel(b.epsilon, 1.4154988495444842, 1e-9);
    expect(b.order).to.equal(13);
  });

  it('reproduces Abadi et al. 2016 (ε ≈ 1.26 for q = 0.01, σ = 4, T = 10⁴, δ = 1e-5) with the classic conversion', () => {
    const spent = computeEpsilon({ samplingRate: 0.01, noiseMultiplier: 4, steps: 10_000, delta: 1e-5, orders: range(2, 32), conversion: 'classic' });
    expect(Number(spent.epsilon.toPrecision(3))).to.equal(1.26);
    // The improved conversion is never worse.
    expect(computeEpsilon({ samplingRate: 0.01, noiseMultiplier: 4, steps: 10_000, delta: 1e-5, orders: range(2, 32) }).epsilon).to.be.below(spent.epsilon);
  });

  it('matches TF Privacy get_privacy_spent on pure DP and on a calibrated Gaussian', () => {
    // test_get_privacy_spent_check_target_delta: constant RDP 1.1 at orders 2..32, δ = 1e-5 → ε = 1.32783806176, order 32.
    const orders = range(2, 32);
    const pure = epsilonFromRdp(orders, orders.map(() => 1.1), 1e-5);
    expect(pure.epsilon).to.be.closeTo(1.32783806176, 1e-9);
    expect(pure.order).to.equal(32);
    // σ = 4.530877117 gives exactly (1, 1e-6)-DP (Balle & Wang 2018); RDP over fine orders recovers ε = 1 (7 places).
    const fine = Array.from({ length: 98_999 }, (_, i) => 1.001 + i * 0.001);
    expect(computeEpsilon({ samplingRate: 1, noiseMultiplier: 4.530877117, steps: 1, delta: 1e-6, orders: fine }).epsilon).to.be.closeTo(1, 1e-7);
  });

  it('rejects bad inputs with actionable errors', () => {
    expect(() => computeEpsilon({ samplingRate: 1.5, noiseMultiplier: 1, steps: 1, delta: 1e-5 })).to.throw(FedProfileError, /sampling rate/);
    expect(() => computeEpsilon({ samplingRate: 0.1, noiseMultiplier: 0, steps: 1, delta: 1e-5 })).to.throw(FedProfileError, /noise multiplier/);
    expect(() => computeEpsilon({ samplingRate: 0.1, noiseMultiplier: 1, steps: 1.5, delta: 1e-5 })).to.throw(FedProfileError, /steps/);
    expect(() => rdpPoissonGaussian(0.1, 1, [1])).to.throw(FedProfileError, /orders/);
  });
});

describe('privacy: noise for a target ε', () => {
  it('finds the smallest multiplier that meets the target, within 0.1 %', () => {
    const p = { samplingRate: 0.5, steps: 15, delta: 1e-5, sampling: 'fixed-size' as const };
    const z = noiseForEpsilon({ ...p, targetEpsilon: 3 });
    expect(computeEpsilon({ ...p, noiseMultiplier: z }).epsilon).to.be.at.most(3);
    expect(computeEpsilon({ ...p, noiseMultiplier: z * 0.998 }).epsilon).to.be.above(3);
    expect(() => noiseForEpsilon({ ...p, targetEpsilon: 0 })).to.throw(FedProfileError, /target epsilon/);
  });
});

describe('privacy: RdpAccountant', () => {
  it('composes rounds like computeEpsilon and previews without recording', () => {
    const acc = new RdpAccountant({ sampling: 'fixed-size', delta: 1e-5 });
    expect(acc.spent().epsilon).to.equal(0);
    const preview = acc.preview(0.25, 1.1);
    expect(acc.rounds).to.equal(0);
    for (let i = 0; i < 20; i++) acc.record(0.25, 1.1);
    const direct = computeEpsilon({ samplingRate: 0.25, noiseMultiplier: 1.1, steps: 20, delta: 1e-5, sampling: 'fixed-size' });
    expect(acc.spent().epsilon).to.be.closeTo(direct.epsilon, 1e-9);
    expect(preview.epsilon).to.be.closeTo(computeEpsilon({ samplingRate: 0.25, noiseMultiplier: 1.1, steps: 1, delta: 1e-5, sampling: 'fixed-size' }).epsilon, 1e-12);
  });

  it('says when the next round would exceed the budget, and survives a state round trip', () => {
    const acc = new RdpAccountant({ sampling: 'poisson', delta: 1e-5, epsilonBudget: 3 });
    let rounds = 0;
    while (!acc.wouldExceed(0.1, 1)) { acc.record(0.1, 1); rounds++; }
    expect(acc.spent().epsilon).to.be.at.most(3);
    expect(acc.preview(0.1, 1).epsilon).to.be.above(3);
    expect(rounds).to.be.at.least(3);
    const copy = new RdpAccountant({ sampling: 'poisson', delta: 1e-5, epsilonBudget: 3 });
    copy.restore(JSON.parse(JSON.stringify(acc.state())));
    expect(copy.spent()).to.deep.equal(acc.spent());
    expect(() => new RdpAccountant({ sampling: 'fixed-size', delta: 1e-5 }).restore(acc.state())).to.throw(FedProfileError, /does not match/);
  });
});
