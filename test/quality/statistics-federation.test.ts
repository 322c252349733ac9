import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { UserExample } from '../../shared/data/encoded.js';
import type { ModelConfig } from '../../shared/model/config.js';
import { COUNT_UNITS, rankedItems, SCORERS, STATS_WEIGHTS } from '../../shared/model/next-item-statistics.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { refreshStatistics, userSequences } from '../../shared/training/statistics-refresh.js';
import { initBackend } from '../../shared/tf/backend.js';
import { handExample, TINY } from '../training/fixtures.js';

const CFG: ModelConfig = { ...TINY, transitionItems: 6 };

function user(key: string, items: number[]): UserExample {
  const ex = handExample({ userKey: key, items: items.slice(0, -1), next: [items[items.length - 1]!] });
  return { ...ex, history: Int32Array.from(items.slice(0, -1)) };
}

/** Statistic weights of a model, flat by name. */
function statsOf(model: ProfileModel): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const name of Object.values(STATS_WEIGHTS)) out[name] = model.maybeWeight(name)!.dataSync() as Float32Array;
  return out;
}

/** One client's refresh from the given global statistics; returns its weights. */
function clientRefresh(global: Record<string, Float32Array>, train: UserExample[], weight: number): Record<string, Float32Array> {
  const model = ProfileModel.create(CFG, 1);
  try {
    for (const [name, v] of Object.entries(global)) model.maybeWeight(name)!.assign(tf.tensor(v, model.maybeWeight(name)!.shape));
    refreshStatistics(model, train, [], weight);
    return statsOf(model);
  } finally {
    model.dispose();
  }
}

const weightedMean = (a: Float32Array, wa: number, b: Float32Array, wb: number): Float32Array =>
  a.map((x, i) => (wa * x + wb * b[i]!) / (wa + wb));

describe('quality/transition statistics under FedAvg', () => {
  before(async () => { await initBackend('cpu'); });

  const clientA = [user('a1', [2, 3, 4, 5]), user('a2', [3, 4, 9, 10])];
  const clientB = [user('b1', [2, 3, 6]), user('b2', [7, 3, 4, 6, 11])];

  it('counts each user once, from their longest training sequence', () => {
    const prefix = { ...user('a1', [2, 3, 4]), history: Int32Array.from([2, 3]) };
    expect(userSequences([prefix, clientA[0]!]).map((s) => Array.from(s))).to.deep.equal([[2, 3, 4, 5]]);
  });

  it('averages two clients into exactly the pooled statistics from the second round on', () => {
    const fresh = statsOf(ProfileModel.create(CFG, 1));
    const wA = 2;
    const wB = 3;
    // Round 1: no index yet; the averaged index popularity is the pooled popularity.
    const a1 = clientRefresh(fresh, clientA, wA);
    const b1 = clientRefresh(fresh, clientB, wB);
    const round1: Record<string, Float32Array> = {};
    for (const name of Object.keys(a1)) round1[name] = weightedMean(a1[name]!, wA, b1[name]!, wB);
    const pooled1 = clientRefresh(fresh, [...clientA, ...clientB], wA + wB);
    for (let i = 0; i < CFG.itemVocab; i++) {
      expect(round1[STATS_WEIGHTS.indexPopularity]![i]).to.be.closeTo(pooled1[STATS_WEIGHTS.indexPopularity]![i]!, 1e-6);
      expect(round1[STATS_WEIGHTS.popularity]![i]).to.be.closeTo(pooled1[STATS_WEIGHTS.popularity]![i]!, 1e-6);
    }
    // Round 2: both clients order the table by the same received index, so the mean is the pooled table.
    const a2 = clientRefresh(round1, clientA, wA);
    const b2 = clientRefresh(round1, clientB, wB);
    const pooled2 = clientRefresh(round1, [...clientA, ...clientB], wA + wB);
    for (const name of [STATS_WEIGHTS.transitions, STATS_WEIGHTS.transitionsWindow, STATS_WEIGHTS.categoryTransitions]) {
      const mean = weightedMean(a2[name]!, wA, b2[name]!, wB);
      const expected = pooled2[name]!;
      expect(expected.some((v) => v > 0), name).to.equal(true);
      mean.forEach((v, i) => expect(v, `${name}[${i}]`).to.be.closeTo(expected[i]!, 1e-6));
    }
    const table = weightedMean(a2[STATS_WEIGHTS.transitions]!, wA, b2[STATS_WEIGHTS.transitions]!, wB);
    // The index goes back unchanged (a zero delta), so it never drifts.
    expect(Array.from(a2[STATS_WEIGHTS.indexPopularity]!)).to.deep.equal(Array.from(round1[STATS_WEIGHTS.indexPopularity]!));
    // And the pooled table holds the hand count: 3 -> 4 follows directly in a1, a2 and b2, over 5 examples.
    const order = Array.from(rankedItems(round1[STATS_WEIGHTS.indexPopularity]!, 6));
    expect(order.slice(0, 2)).to.deep.equal([3, 4]); // the two most popular items
    expect(table[order.indexOf(3) * 6 + order.indexOf(4)]).to.be.closeTo(3 / (5 * COUNT_UNITS), 1e-7);
  });

  it('scores the validation scorers as evaluation ranks: the history left out only when evaluation leaves it out', () => {
    // Item 6 is mostly followed by itself, sometimes by 5; the validation user's history is [5, 6] and the
    // target repeats 5. Statistics alone, latest item only: 6 ranks first, 5 second, unless the history
    // (6, not the target) is excluded.
    const train = [user('t1', [6, 6, 6, 5]), user('t2', [6, 6, 5, 6, 6])];
    const validation = [user('v', [5, 6, 5])];
    const statisticsAlone = SCORERS.findIndex((s) => s.historyDecay === 0 && s.windowWeight === 0 && s.categoryShare === 0 && s.mix === 1);
    const ndcgOf = (excludeHistory: boolean): number => {
      const model = ProfileModel.create(CFG, 1);
      try {
        refreshStatistics(model, train, validation, 1, { excludeHistory });
        return model.maybeWeight(STATS_WEIGHTS.scorerValidation)!.dataSync()[statisticsAlone]! * COUNT_UNITS;
      } finally {
        model.dispose();
      }
    };
    expect(ndcgOf(false)).to.be.closeTo(1 / Math.log2(3), 1e-6);
    expect(ndcgOf(true)).to.be.closeTo(1, 1e-6);
  });
});
