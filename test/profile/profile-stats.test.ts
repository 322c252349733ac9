import { expect } from 'chai';
import type { BehaviourEvent } from '../../shared/data/events.js';
import { activityStats, segmentOf } from '../../shared/model/profile.js';

const DAY = 86_400_000;
const ev = (t: number, action: BehaviourEvent['action']): BehaviourEvent => ({ userId: 'u', timestamp: t, itemId: 'i', categoryId: 'c', action });

describe('profile/activity statistics and segments', () => {
  it('computes rates over the active span and recency against now', () => {
    const events = [ev(0, 'view'), ev(DAY, 'purchase'), ev(5 * DAY, 'view'), ev(10 * DAY, 'purchase')];
    const s = activityStats(events, 13 * DAY, 0.4);
    expect(s.events).to.equal(4);
    expect(s.eventsPerDay).to.equal(0.4);
    expect(s.purchaseFrequency).to.equal(6); // 2 purchases in 10 days -> 6 per 30 days
    expect(s.expectedPurchases30d).to.be.closeTo(((2 + 0.4) / 40) * 30, 1e-12);
    expect(s.lastActiveDaysAgo).to.equal(3);
    expect(s.actionCounts).to.deep.equal({ view: 2, click: 0, cart: 0, purchase: 2, review: 0, search: 0 });
  });

  it('a single-day history uses a one-day span and never reports negative recency', () => {
    const s = activityStats([ev(100, 'cart'), ev(200, 'cart')], 50, 0);
    expect(s.eventsPerDay).to.equal(2);
    expect(s.lastActiveDaysAgo).to.equal(0);
  });

  it('segment = propensity band x numTiers + tier', () => {
    expect(segmentOf(0.1, 0, 4)).to.deep.equal({ segment: 0, band: 'low', label: 'low-propensity/tier-0' });
    expect(segmentOf(0.3, 2, 4).segment).to.equal(6);
    expect(segmentOf(0.9, 3, 4)).to.deep.equal({ segment: 11, band: 'high', label: 'high-propensity/tier-3' });
    expect(segmentOf(0.5, 1, 4).band).to.equal('high');
    expect(segmentOf(0.3, 1, 4, { propensityCuts: [0.35, 0.6], lapsedAfterDays: 10 }).band).to.equal('low');
  });
});
