import { expect } from 'chai';
import {
  evaluateBaselines, itemPopularity, majorityTier, purchaseRate, recentCategoryScores,
} from '../../shared/training/baselines.js';
import { handExample } from './fixtures.js';

describe('training/baselines', () => {
  const train = [
    handExample({ items: [2, 3, 3], next: [3], tier: 1 }),
    handExample({ items: [4, 3], next: [2], tier: 1 }),
    handExample({ items: [5], next: [], tier: 2 }),
  ];

  it('popularity counts inputs and label windows of training users only', () => {
    const pop = itemPopularity(train, 8);
    expect(Array.from(pop)).to.deep.equal([0, 0, 2, 4, 1, 1, 0, 0]);
    expect(majorityTier(train, 4)).to.equal(1);
  });

  it('most-recent-category and purchase-rate heuristics', () => {
    const ex = handExample({ items: [2, 3, 4, 5], categories: [1, 2, 1, 3], actions: [1, 4, 4, 2] });
    const s = recentCategoryScores(ex, 6);
    expect(s[3]).to.be.greaterThan(s[1]);
    expect(s[1]).to.be.greaterThan(s[2]);
    expect(s[4]).to.equal(0);
    expect(purchaseRate(ex)).to.equal(0.5);
  });

  it('evaluateBaselines gives hand-computed metrics', () => {
    const test = [
      // item 3 is the most popular: rank 0 -> HR 1, NDCG 1
      handExample({ userKey: 'a', items: [2], categories: [2], actions: [4], next: [3], purchased: 1, interests: [2], tier: 1 }),
      // item 4 ties item 5 (count 1) behind 3 and 2 -> pessimistic rank 3 -> NDCG 1/log2(5)
      handExample({ userKey: 'b', items: [2, 2], categories: [3, 4], actions: [1, 1], next: [4], purchased: 0, interests: [5], tier: 2 }),
    ];
    const m = evaluateBaselines(train, test, { k: 10, seed: 1, itemVocab: 8, categoryVocab: 6, numTiers: 4 });
    expect(m.n).to.equal(2);
    expect(m.hr10).to.equal(1);
    expect(m.ndcg10).to.be.closeTo((1 + 1 / Math.log2(5)) / 2, 1e-12);
    expect(m.auc).to.equal(1); // purchase rates 1 vs 0
    expect(m.interestP3).to.equal(0.5); // a: top category 2 is right; b: {4,3} miss 5
    expect(m.tierAcc).to.equal(0.5);
    // smoothed popularity: (count+1)/(8+6): item 3 -> 5/14, item 4 -> 2/14
    expect(m.loss).to.be.closeTo(-(Math.log(5 / 14) + Math.log(2 / 14)) / 2, 1e-12);
  });
});
