import { expect } from 'chai';
import { evaluateBaselines } from '../../shared/training/baselines.js';
import { MetricAccumulator } from '../../shared/training/scoring.js';
import { deriveLabels } from '../../shared/data/labels.js';
import { createHasher } from '../../shared/data/hashing.js';
import type { BehaviourEvent } from '../../shared/data/events.js';
import { handExample, TINY } from './fixtures.js';

const noPrices = (o: Parameters<typeof handExample>[0]) => {
  const e = handExample(o);
  return { ...e, labels: { ...e.labels, tierKnown: false } };
};

describe('metrics the data cannot measure are NaN (null in JSON), never a perfect score', () => {
  const train = [handExample({ items: [2, 3], next: [3], tier: 1 })];
  const opts = { k: 10, seed: 1, itemVocab: 8, categoryVocab: 6, numTiers: 4 };

  it('tier accuracy without any price-derived tier is NaN even when every prediction equals the default', () => {
    const test = [
      noPrices({ userKey: 'a', items: [2], next: [3], purchased: 1, interests: [1], tier: 1 }),
      noPrices({ userKey: 'b', items: [3], next: [2], purchased: 0, interests: [1], tier: 1 }),
    ];
    const m = evaluateBaselines(train, test, opts);
    expect(m.tierAcc).to.be.NaN; // the old accumulator said 1.0 here: majority 1 = default 1
    expect(JSON.parse(JSON.stringify({ tierAcc: m.tierAcc })).tierAcc).to.equal(null);
  });

  it('tier accuracy counts only the examples whose tier is known', () => {
    const acc = new MetricAccumulator({ k: 10, seed: 1, itemVocab: 8 });
    const pred = { itemScores: new Float32Array(8), itemScoresAreLogits: true, propensity: 0.5, interestScores: new Float32Array(6), tier: 1 };
    acc.add(0, noPrices({ userKey: 'a', items: [2], tier: 1 }), pred); // skipped
    acc.add(1, handExample({ userKey: 'b', items: [2], tier: 1 }), pred); // hit
    acc.add(2, handExample({ userKey: 'c', items: [2], tier: 2 }), pred); // miss
    const m = acc.result();
    expect(m.tierAcc).to.equal(0.5);
    expect(m.n).to.equal(3);
  });

  it('propensity AUC without any purchase label is NaN, not 0.5 or 1', () => {
    const test = [
      handExample({ userKey: 'a', items: [2], actions: [4], next: [3], purchased: 0, tier: 1 }),
      handExample({ userKey: 'b', items: [3], actions: [1], next: [2], purchased: 0, tier: 1 }),
    ];
    expect(evaluateBaselines(train, test, opts).auc).to.be.NaN;
  });

  it('deriveLabels marks a tier read from no price at all as unknown', () => {
    const hasher = createHasher({ key: 'k-12345678', itemVocab: TINY.itemVocab, categoryVocab: TINY.categoryVocab, textVocab: 0 });
    const ev = (price?: number): BehaviourEvent => ({ userId: 'u', itemId: 'i', categoryId: 'c', action: 'purchase', timestamp: 1, ...(price === undefined ? {} : { price }) });
    expect(deriveLabels([ev()], hasher, TINY).tierKnown).to.equal(false);
    expect(deriveLabels([ev(25)], hasher, TINY).tierKnown).to.equal(true);
    expect(deriveLabels([ev()], hasher, TINY, undefined, [ev(25)]).tierKnown).to.equal(true);
  });
});
