import { expect } from 'chai';
import seedrandom from 'seedrandom';
import type { UserExample } from '../../shared/data/encoded.js';
import { evaluateNamedBaselines, firstOrderTransitions } from '../../shared/training/baselines.js';
import { rankOf, samplePopularNegatives } from '../../shared/training/metrics.js';
import { handExample } from '../training/fixtures.js';

const withHistory = (key: string, items: number[], next: number): UserExample =>
  ({ ...handExample({ userKey: key, items, next: [next] }), history: Int32Array.from(items) });

describe('quality/rule baselines and ranking protocol', () => {
  it('leaves history items out of a full ranking, but never the target', () => {
    const scores = [0, 0, 9, 8, 7, 6];
    expect(rankOf(scores, 5, undefined, 2)).to.equal(3);
    expect(rankOf(scores, 5, undefined, 2, new Set([2, 3]))).to.equal(1);
  });

  it('draws popularity negatives in proportion, never the target, the history or unseen items', () => {
    const weights = [0, 0, 100, 1, 0, 50, 50];
    const counts = new Map<number, number>();
    for (let r = 0; r < 300; r++) {
      const negs = samplePopularNegatives(6, weights, 1, seedrandom(`n${r}`), 2, new Set([5]));
      for (const n of negs) counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).to.deep.equal([2, 3]);
    expect(counts.get(2)!).to.be.greaterThan(250);
    expect(samplePopularNegatives(6, weights, 10, seedrandom('x'), 2, new Set([5])).length).to.equal(2);
  });

  it('scores first-order Markov and popularity on the same examples, by hand', () => {
    // Training users: 3 is followed by 4 twice and by 5 once; 6 is the most popular item.
    const train = [withHistory('a', [3, 4, 6], 6), withHistory('b', [3, 4, 6], 6), withHistory('c', [3, 5], 6)];
    expect(firstOrderTransitions(train).get(3)).to.deep.equal(new Map([[4, 2], [5, 1]]));
    // The test user's last item is 3 and the next item is 5: Markov ranks 4 first, then 5.
    const test = [withHistory('t', [7, 3], 5)];
    const b = evaluateNamedBaselines(train, test, { k: 10, seed: 1, itemVocab: 10, categoryVocab: 6, numTiers: 3, excludeHistory: true });
    expect(b.markov['ndcg10']).to.be.closeTo(1 / Math.log2(3), 1e-12);
    // Popularity: 6 (5 uses), 3 (3, but history, excluded), 4 (2), then 5 (1): 5 is third.
    expect(b.popularity['ndcg10']).to.be.closeTo(1 / Math.log2(4), 1e-12);
    expect(b.majorityTier['tierAcc']).to.equal(1);
    // One class only: AUC cannot be measured, so it is null, not a score.
    expect(b.purchaseRate['auc']).to.equal(null);
  });
});
