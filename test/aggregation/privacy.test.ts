import { expect } from 'chai';
import seedrandom from 'seedrandom';
import {
  addCentralNoise, addGaussianNoise, clipL2, computeEpsilon, gaussianSource, privatizeLocally, rdpSubsampledGaussian, secureUniform,
} from '../../shared/privacy/index.js';
import { l2Norm } from '../../shared/weights/delta.js';
import { FedProfileError } from '../../shared/errors.js';

describe('privacy: clipping and noise', () => {
  it('clips only updates above the norm, preserving direction', () => {
    const big = clipL2(Float32Array.of(3, 4), 1);
    expect(big.clipped).to.equal(true);
    expect(big.norm).to.equal(5);
    expect(Array.from(big.values)).to.deep.equal([Math.fround(0.6), Math.fround(0.8)]);
    const small = clipL2(Float32Array.of(0.3, 0.4), 1);
    expect(small.clipped).to.equal(false);
    expect(Array.from(small.values)).to.deep.equal([Math.fround(0.3), Math.fround(0.4)]);
    expect(() => clipL2(Float32Array.of(1), 0)).to.throw(FedProfileError, /clip norm/);
  });

  it('Gaussian noise has the requested standard deviation (seeded and CSPRNG sources)', () => {
    for (const normal of [gaussianSource(seedrandom('dp')), gaussianSource(secureUniform())]) {
      const noisy = addGaussianNoise(new Float32Array(200_000), 0.5, normal);
      let sum = 0;
      for (const x of noisy) sum += x;
      const mean = sum / noisy.length;
      const sd = l2Norm(noisy.map((x) => x - mean)) / Math.sqrt(noisy.length);
      expect(mean).to.be.closeTo(0, 0.01);
      expect(sd).to.be.closeTo(0.5, 0.005);
    }
  });

  it('local DP clips then adds zC noise; central DP adds zC/n to the mean', () => {
    const normal = gaussianSource(seedrandom('local'));
    const local = privatizeLocally(new Float32Array(50_000).fill(1), { clipNorm: 10, noiseMultiplier: 0.1 }, normal);
    expect(local.clipped).to.equal(true);
    // Clipped value 10/√50000 ≈ 0.0447 per element, plus N(0, 1²): the norm is about √(50000·(1 + 0.002)).
    expect(l2Norm(local.values) / Math.sqrt(50_000)).to.be.closeTo(1.001, 0.01);
    const central = addCentralNoise(new Float32Array(50_000), 100, { clipNorm: 2, noiseMultiplier: 1 }, gaussianSource(seedrandom('c')));
    expect(l2Norm(central) / Math.sqrt(50_000)).to.be.closeTo(0.02, 0.0005);
  });
});

describe('privacy: RDP accountant (subsampled Gaussian)', () => {
  it('reduces to α/(2σ²) without subsampling', () => {
    expect(rdpSubsampledGaussian(1, 2, [2, 10])).to.deep.equal([2 / 8, 10 / 8]);
    expect(rdpSubsampledGaussian(0, 2, [2])).to.deep.equal([0]);
  });

  it('matches reference values of tensorflow_privacy (q = 0.01, σ = 2.5, 50 steps)', () => {
    const rdp = rdpSubsampledGaussian(0.01, 2.5, [5, 50, 100]).map((r) => r * 50);
    expect(rdp[0]).to.be.closeTo(2.1808e-3, 1e-7);
    expect(rdp[1]).to.be.closeTo(2.3846e-2, 1e-6);
    expect(rdp[2]).to.be.closeTo(167.42, 0.01);
  });

  it("gives Abadi et al.'s ε ≈ 1.26 at δ = 1e-5 (q = 0.01, σ = 4, 10,000 steps, orders 2..32, classic conversion)", () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    // Abadi et al. 2016, §3.1: "with q = 0.01, σ = 4, δ = 1e-5 and T = 10000, we have ε ≈ 1.26 using the moments accountant".
    const spent = computeEpsilon({ samplingRate: 0.01, noiseMultiplier: 4, steps: 10_000, delta: 1e-5, orders, conversion: 'classic' });
    expect(spent.epsilon).to.be.closeTo(1.258575, 1e-5);
    expect(spent.order).to.equal(20);
  });

  it('ε grows with steps and shrinks with noise', () => {
    const base = { samplingRate: 0.1, noiseMultiplier: 1.1, steps: 100, delta: 1e-5 };
    const e = computeEpsilon(base).epsilon;
    expect(computeEpsilon({ ...base, steps: 200 }).epsilon).to.be.above(e);
    expect(computeEpsilon({ ...base, noiseMultiplier: 2 }).epsilon).to.be.below(e);
    expect(() => computeEpsilon({ ...base, delta: 0 })).to.throw(FedProfileError, /delta/);
  });
});
