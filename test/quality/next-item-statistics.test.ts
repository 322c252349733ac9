import { expect } from 'chai';
import {
  bestScorer, countStatistics, fusedLogScores, NextItemStatistics, SCORERS, rankedItems, softmaxItems, TRANSITION_SETTINGS,
} from '../../shared/model/next-item-statistics.js';
import { rankOf } from '../../shared/training/metrics.js';

describe('quality/next-item statistics', () => {
  it('ranks items by popularity, ties by lower id, skipping reserved and unseen ids', () => {
    const pop = Float32Array.from([9, 9, 3, 0, 5, 3, 1]);
    expect(Array.from(rankedItems(pop, 10))).to.deep.equal([4, 2, 5, 6]);
    expect(Array.from(rankedItems(pop, 2))).to.deep.equal([4, 2]);
  });

  it('counts adjacent pairs and windowed, decayed pairs in two tables over the table items only', () => {
    const V = 8;
    const index = Int32Array.from([2, 3, 4]);
    const categoryOf = Int32Array.from([0, 0, 1, 1, 2, 0, 0, 2]);
    const { popularity, transitions, transitionsWindow, categoryTransitions } = countStatistics([[2, 3, 4], [3, 7, 2]], V, index, 3, { categoryOf, categories: 3 });
    expect(Array.from(popularity)).to.deep.equal([0, 0, 2, 2, 1, 0, 0, 1]);
    const d = TRANSITION_SETTINGS.pairDecay;
    const at = (t: Float32Array, a: number, b: number) => t[index.indexOf(a) * 3 + index.indexOf(b)]!;
    expect(at(transitions, 2, 3)).to.equal(1);
    expect(at(transitions, 2, 4)).to.equal(0);
    expect(at(transitionsWindow, 2, 4)).to.be.closeTo(d, 1e-7);
    expect(at(transitionsWindow, 2, 3)).to.equal(0);
    expect(at(transitions, 3, 4)).to.equal(1);
    // 3 -> 7 is outside the table; 3 -> 2 at distance 2 still counts, in the window table.
    expect(at(transitionsWindow, 3, 2)).to.be.closeTo(d, 1e-7);
    expect(at(transitions, 3, 2)).to.equal(0);
    for (const t of [transitions, transitionsWindow]) expect(at(t, 4, 2) + at(t, 4, 3) + at(t, 4, 4)).to.equal(0);
    // Category rows count adjacent successors over the whole vocabulary, 7 (outside the table) included:
    // category 1 (items 2, 3) -> 3, 4, 7; category 2 (items 4, 7) -> 2.
    const row = (c: number) => Array.from(categoryTransitions.subarray(c * V, (c + 1) * V));
    expect(row(1)).to.deep.equal([0, 0, 0, 1, 1, 0, 0, 1]);
    expect(row(2)).to.deep.equal([0, 0, 1, 0, 0, 0, 0, 0]);
    expect(row(0).every((v) => v === 0)).to.equal(true);
  });

  it('turns the last items into a proper distribution that favours their successors', () => {
    const V = 6;
    const popularity = Float32Array.from([0, 0, 4, 3, 2, 1]);
    const order = rankedItems(popularity, 4); // [2, 3, 4, 5]
    const transitions = new Float32Array(16);
    transitions[order.indexOf(2) * 4 + order.indexOf(5)] = 3; // 2 -> 5 thrice
    transitions[order.indexOf(2) * 4 + order.indexOf(3)] = 1; // 2 -> 3 once
    const transitionsWindow = new Float32Array(16);
    transitionsWindow[order.indexOf(2) * 4 + order.indexOf(4)] = 4; // 2 .. 4 at a distance
    const categoryTransitions = new Float32Array(2 * V);
    categoryTransitions[1 * V + 4] = 2; // category 1 -> 4
    const weights = { popularity, indexPopularity: popularity, transitions, transitionsWindow, categoryTransitions };
    const stats = NextItemStatistics.fromWeights(weights, 4)!;
    const first = (historyDecay: number) => ({ historyDecay, windowWeight: 0, categoryShare: 0 });
    const p = stats.distribution([4, 2], first(0.6));
    const sum = p.reduce((a, b) => a + b, 0);
    expect(sum).to.be.closeTo(1, 1e-9);
    const share = TRANSITION_SETTINGS.popularityShare;
    // Item 4 has no row, so only item 2's row counts: 3/4 of the transition mass goes to 5.
    // (With history decay 0 only the latest item, 2, is read: the same here.)
    expect(Array.from(stats.distribution([4, 2], first(0)))).to.deep.equal(Array.from(p));
    // Reading only item 4 (latest, no row) falls back to popularity.
    expect(stats.distribution([2, 4], first(0))[2]).to.be.closeTo(0.4, 1e-9);
    expect(p[5]).to.be.closeTo((1 - share) * 0.75 + share * 0.1, 1e-9);
    expect(p[3]).to.be.closeTo((1 - share) * 0.25 + share * 0.3, 1e-9);
    expect(p[2]).to.be.closeTo(share * 0.4, 1e-9);
    expect(p[0]).to.equal(0);
    // The window table joins the row at windowWeight: 2's row becomes 5: 3, 3: 1, 4: 4 (of 8).
    const windowed = stats.distribution([2], { historyDecay: 0, windowWeight: 1, categoryShare: 0 });
    expect(windowed[4]).to.be.closeTo((1 - share) * 0.5 + share * 0.2, 1e-9);
    expect(windowed[5]).to.be.closeTo((1 - share) * 0.375 + share * 0.1, 1e-9);
    // The category row takes categoryShare of an item's row, and all of it for an item without a row (4, in
    // category 1); an unknown category leaves the item row alone.
    const byCategory = (id: number) => (id === 2 || id === 4 ? 1 : 0);
    const shared = stats.distribution([2], { historyDecay: 0, windowWeight: 0, categoryShare: 0.2 }, byCategory);
    expect(shared[4]).to.be.closeTo((1 - share) * 0.2 + share * 0.2, 1e-9);
    expect(shared[5]).to.be.closeTo((1 - share) * 0.8 * 0.75 + share * 0.1, 1e-9);
    const onlyCategory = stats.distribution([4], { historyDecay: 0, windowWeight: 0, categoryShare: 0.2 }, byCategory);
    expect(onlyCategory[4]).to.be.closeTo(1 - share + share * 0.2, 1e-9);
    expect(Array.from(stats.distribution([2], { historyDecay: 0, windowWeight: 0, categoryShare: 0.2 }))).to.deep.equal(Array.from(p));
    // Without any counts there are no statistics to fuse.
    expect(NextItemStatistics.fromWeights({ ...weights, popularity: new Float32Array(6), indexPopularity: new Float32Array(6) }, 4)).to.equal(null);
    expect(() => NextItemStatistics.fromWeights({ ...weights, transitionsWindow: new Float32Array(9) }, 4)).to.throw(RangeError, /window transition table/);
  });

  it('fuses in probability space: mix 0 ranks as the model, mix 1 as the statistics', () => {
    const logits = Float32Array.from([0, 0, 2, 1, 0, -1]);
    const probs = softmaxItems(logits);
    expect(probs[0]).to.equal(0);
    expect(probs.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-9);
    const stats = Float64Array.from([0, 0, 0.1, 0.1, 0.1, 0.7]);
    expect(rankOf(fusedLogScores(probs, stats, 0), 2, undefined, 2)).to.equal(0);
    expect(rankOf(fusedLogScores(probs, stats, 1), 5, undefined, 2)).to.equal(0);
    const half = fusedLogScores(probs, stats, 0.5);
    expect(Math.exp(half[5]!)).to.be.closeTo(0.5 * probs[5]! + 0.35, 1e-6);
  });
});

describe('quality/scorer chosen on the federation\'s validation', () => {
  it('takes the best validation NDCG, breaking ties by log-likelihood', () => {
    const G = SCORERS.length;
    const scores = new Float32Array(2 * G);
    scores.fill(0.1, 0, G);
    scores[3] = 0.2;
    scores[7] = 0.2;
    scores.fill(-9, G);
    scores[G + 7] = -8;
    expect(bestScorer(scores)).to.deep.equal(SCORERS[7]);
    expect(bestScorer(new Float32Array(2 * G))).to.deep.equal(SCORERS[0]);
  });
});
