import { expect } from 'chai';
import { LocalProfiler } from '../../client-sdk/local-profiler.js';
import type { BehaviourEvent } from '../../shared/data/events.js';
import { initialGlobalWeights } from '../../shared/model/init.js';
import { initBackend } from '../../shared/tf/backend.js';

const MODEL = {
  itemVocab: 64, categoryVocab: 8, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0, useActions: true,
  maxLen: 50, dModel: 8, layers: 1, heads: 1, ffDim: 8, dropout: 0, numTiers: 2,
};
const DAY = 86_400_000;

describe('LocalProfiler: profiles tell the truth (issue item 9)', function () {
  this.timeout(30_000);
  let profiler: LocalProfiler;
  before(async () => {
    await initBackend('cpu');
    const { values } = await initialGlobalWeights(MODEL, 1);
    profiler = await LocalProfiler.fromWeights(MODEL, values, { hashKey: 'the-shared-key', backend: 'cpu' });
  });
  after(() => profiler?.close());

  it('activity statistics cover the whole history, not the last maxLen events', () => {
    // 205 events over 204 days; the single purchase is the first event, long before the model's window.
    const events: BehaviourEvent[] = Array.from({ length: 205 }, (_, i) => ({
      userId: 'bea', timestamp: i * DAY, itemId: `sku-${i % 40}`, categoryId: 'c1', action: i === 0 ? 'purchase' : 'view',
    }));
    const [p] = profiler.profile([{ userId: 'bea', events }]);
    expect(p!.activity.events).to.equal(205);
    expect(p!.activity.actionCounts.purchase).to.equal(1);
    expect(p!.activity.purchaseFrequency).to.be.closeTo((1 / 204) * 30, 1e-9);
    expect(p!.activity.eventsPerDay).to.be.closeTo(205 / 204, 1e-9);
  });

  it('next items are always the merchant\'s own item ids, from every event seen, never bare buckets', () => {
    profiler.learnItems(Array.from({ length: 30 }, (_, i) => ({ userId: 'catalogue', timestamp: 0, itemId: `cat-${i}`, categoryId: 'c1', action: 'view' as const })));
    const known = new Set([...Array.from({ length: 40 }, (_, i) => `sku-${i}`), ...Array.from({ length: 30 }, (_, i) => `cat-${i}`)]);
    const [p] = profiler.profile([{ userId: 'cy', events: [{ userId: 'cy', timestamp: 1, itemId: 'sku-1', categoryId: 'c1', action: 'view' }] }]);
    expect(p!.nextItems.length).to.be.above(0);
    for (const n of p!.nextItems) {
      expect(n.item).to.be.a('string');
      expect(known.has(n.item), n.item).to.equal(true);
    }
  });

  it('errors name the caller\'s user id, not its hashed key', () => {
    expect(() => profiler.profile([{ userId: 'dora@example.com', events: [] }])).to.throw(/first: dora@example\.com\)/);
  });

  it('evaluate() reports the profile evaluation beside the metrics: completeness, staleness, faithfulness', async () => {
    // 12 users x 20 events, one per hour; the default split holds out each user's last 2 events.
    const events: BehaviourEvent[] = [];
    for (let u = 0; u < 12; u++) {
      for (let i = 0; i < 20; i++) {
        events.push({ userId: `u${u}`, timestamp: i * 3_600_000, itemId: `sku-${(u * 3 + i) % 40}`, categoryId: `c${(u + i) % 4}`, action: i % 5 === 4 ? 'purchase' : 'view' });
      }
    }
    const r = await profiler.evaluate(events, { seed: 3 });
    expect(r.profile.completeness.users).to.equal(r.model.n);
    expect(r.profile.timeliness.staleness!.users).to.equal(12);
    expect(r.profile.timeliness.staleness!.meanEventsBehind).to.equal(2);
    expect(r.profile.timeliness.staleness!.medianSeconds).to.equal(2 * 3600);
    expect(r.profile.faithfulness.map((f) => f.method)).to.deep.equal(['occlusion', 'attention']);
    expect(r.profile.faithfulness[0]!.users).to.equal(r.model.n);
    expect(r.model.tierAcc).to.be.NaN; // no prices anywhere: not measurable
  });
});
