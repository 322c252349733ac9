import { expect } from 'chai';
import seedrandom from 'seedrandom';
import {
  accuracy, argmax, hitAtK, logSoftmaxAt, nanMean, ndcgAtK, precisionAtK, rankOf, rocAuc, sampleNegatives, softmax, topK,
} from '../../shared/training/metrics.js';

describe('training/metrics', () => {
  it('rankOf counts strictly better and tied candidates (pessimistic ties)', () => {
    const s = [9, 9, 0.5, 0.9, 0.1, 0.9, 0.3];
    expect(rankOf(s, 3, undefined, 2)).to.equal(1); // item 5 ties with 0.9
    expect(rankOf(s, 2, undefined, 2)).to.equal(2);
    expect(rankOf(s, 4, undefined, 2)).to.equal(4);
    expect(rankOf(s, 2, [4, 6])).to.equal(0);
    expect(rankOf([1, 1, 1, 1], 2, undefined, 2)).to.equal(1); // a constant scorer is not rewarded
  });

  it('HR@K and NDCG@K match hand-computed values', () => {
    expect(hitAtK(0, 10)).to.equal(1);
    expect(hitAtK(9, 10)).to.equal(1);
    expect(hitAtK(10, 10)).to.equal(0);
    expect(ndcgAtK(0, 10)).to.equal(1);
    expect(ndcgAtK(1, 10)).to.be.closeTo(1 / Math.log2(3), 1e-15);
    expect(ndcgAtK(2, 10)).to.equal(0.5);
    expect(ndcgAtK(10, 10)).to.equal(0);
  });

  it('ROC AUC: perfect, inverted, ties count one half, undefined with one class', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).to.equal(0.75);
    expect(rocAuc([0.9, 0.8, 0.1], [1, 1, 0])).to.equal(1);
    expect(rocAuc([0.1, 0.8, 0.9], [1, 0, 0])).to.equal(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).to.equal(0.5);
    // pos {0.5, 0.7}, neg {0.5, 0.2}: pairs (0.5,0.5)=0.5 (0.5,0.2)=1 (0.7,0.5)=1 (0.7,0.2)=1 -> 3.5/4
    expect(rocAuc([0.5, 0.7, 0.5, 0.2], [1, 1, 0, 0])).to.equal(0.875);
    expect(rocAuc([0.1, 0.2], [1, 1])).to.be.NaN;
    expect(() => rocAuc([1], [1, 0])).to.throw(RangeError);
  });

  it('precision@K caps the denominator at the relevant set size and skips empty sets', () => {
    expect(precisionAtK([3, 1, 2], new Set([1, 2, 3, 4]), 3)).to.equal(1);
    expect(precisionAtK([3, 1, 2], new Set([1, 7, 8, 9]), 3)).to.equal(1 / 3);
    expect(precisionAtK([3, 1, 2], new Set([2]), 3)).to.equal(1);
    expect(precisionAtK([3, 1, 2], new Set([5, 2]), 3)).to.equal(0.5);
    expect(precisionAtK([3, 1, 2], new Set(), 3)).to.be.NaN;
  });

  it('topK is stable on ties, honours the start index and exclusions', () => {
    expect(topK([5, 1, 3, 3, 9], 3)).to.deep.equal([4, 0, 2]);
    expect(topK([5, 1, 3, 3, 9], 3, 1)).to.deep.equal([4, 2, 3]);
    expect(topK([5, 1, 3, 3, 9], 2, 0, new Set([4]))).to.deep.equal([0, 2]);
  });

  it('sampleNegatives is seeded, distinct, in range and never the target', () => {
    const a = sampleNegatives(7, 200, 100, seedrandom('s'));
    const b = sampleNegatives(7, 200, 100, seedrandom('s'));
    expect(Array.from(a)).to.deep.equal(Array.from(b));
    expect(new Set(a).size).to.equal(100);
    for (const x of a) { expect(x).to.be.within(2, 199); expect(x).to.not.equal(7); }
    expect(sampleNegatives(3, 6, 100, seedrandom('t')).length).to.equal(3); // only {2,4,5} exist
  });

  it('accuracy, argmax, nanMean, softmax and logSoftmaxAt', () => {
    expect(accuracy([1, 2, 3, 0], [1, 2, 0, 0])).to.equal(0.75);
    expect(argmax([0.1, 0.7, 0.7, 0.2])).to.equal(1);
    expect(nanMean([1, Number.NaN, 3])).to.equal(2);
    expect(nanMean([])).to.be.NaN;
    const p = softmax([0, Math.log(3)]);
    expect(p[0]).to.be.closeTo(0.25, 1e-12);
    expect(logSoftmaxAt([100, 0, Math.log(3)], 2, 1)).to.be.closeTo(Math.log(0.75), 1e-12);
  });
});
