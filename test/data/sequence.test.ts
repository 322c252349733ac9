import { expect } from 'chai';
import type { BehaviourEvent } from '../../shared/data/events.js';
import { createHasher } from '../../shared/data/hashing.js';
import { encodeSequence, NO_ITEM } from '../../shared/data/sequence.js';
import { deriveLabels, spendingTier } from '../../shared/data/labels.js';
import { buildExamples } from '../../shared/data/examples.js';
import { defaultTierThresholds, priceTier, tierCentrePrice } from '../../shared/data/tiers.js';
import { gapBucket, priceBucket } from '../../shared/data/buckets.js';
import { PROFILE_SMALL, type ModelConfig } from '../../shared/model/config.js';

const cfg: ModelConfig = { ...PROFILE_SMALL, maxLen: 6, textTokens: 3 };
const hasher = createHasher({ key: 'k', itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, textVocab: cfg.textVocab });
const T0 = Date.UTC(2024, 0, 1);
const ev = (i: number, over: Partial<BehaviourEvent> = {}): BehaviourEvent =>
  ({ userId: 'u', timestamp: T0 + i * 60_000, itemId: `i${i}`, categoryId: `c${i % 3}`, action: 'view', price: 20, ...over });

describe('sequence encoding', () => {
  it('left-pads a short history so the last event sits at maxLen-1', () => {
    const events = [ev(0, { action: 'search', itemId: NO_ITEM, text: 'Red shoes big sale', price: undefined }), ev(1, { action: 'cart', price: 99 })];
    const s = encodeSequence(events, hasher, cfg);
    expect(s.length).to.equal(2);
    expect([...s.item]).to.deep.equal([0, 0, 0, 0, hasher.item(NO_ITEM), hasher.item('i1')]);
    expect([...s.category]).to.deep.equal([0, 0, 0, 0, hasher.category('c0'), hasher.category('c1')]);
    expect([...s.action]).to.deep.equal([0, 0, 0, 0, 6, 3]); // search = index 5 + 1, cart = 2 + 1
    expect([...s.price]).to.deep.equal([0, 0, 0, 0, 0, priceBucket(99, cfg.priceBuckets)]);
    expect([...s.gap]).to.deep.equal([0, 0, 0, 0, 1, gapBucket(60, cfg.gapBuckets)]);
    expect(s.text).to.have.length(18);
    expect([...s.text.subarray(0, 12)]).to.deep.equal(new Array(12).fill(0));
    expect([...s.text.subarray(12, 15)]).to.deep.equal(hasher.text('red shoes big'));
    expect([...s.text.subarray(15, 18)]).to.deep.equal([0, 0, 0]);
  });

  it('keeps the most recent maxLen events and measures the first gap from the dropped event before it', () => {
    const events = Array.from({ length: 9 }, (_, i) => ev(i));
    const s = encodeSequence(events, hasher, cfg);
    expect(s.length).to.equal(6);
    expect([...s.item]).to.deep.equal([3, 4, 5, 6, 7, 8].map((i) => hasher.item(`i${i}`)));
    expect(s.gap[0]).to.equal(gapBucket(60, cfg.gapBuckets));
  });

  it('leaves disabled side fields at 0', () => {
    const off: ModelConfig = { ...cfg, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0 };
    const s = encodeSequence([ev(0, { text: 'hello' }), ev(1)], hasher, off);
    expect([...s.price, ...s.gap]).to.deep.equal(new Array(12).fill(0));
    expect(s.text).to.have.length(0);
  });
});

describe('labels', () => {
  it('tiers follow the fixed geometric price ladder', () => {
    expect(defaultTierThresholds(4).map((t) => Math.round(t * 100) / 100)).to.deep.equal([17.32, 51.96, 155.88]);
    expect([5, 17.4, 30, 60, 155, 156, 10_000].map((p) => priceTier(p, defaultTierThresholds(4)))).to.deep.equal([0, 1, 1, 2, 2, 3, 3]);
    expect([0, 1, 2, 3].map((t) => priceTier(tierCentrePrice(t), defaultTierThresholds(4)))).to.deep.equal([0, 1, 2, 3]);
  });

  it('derives purchase, multi-hot interests, tier from the basket and next items without searches', () => {
    const window = [
      ev(10, { categoryId: 'shoes', price: 500 }),
      ev(11, { categoryId: 'shoes', action: 'search', itemId: NO_ITEM, price: undefined }),
      ev(12, { categoryId: 'hats', action: 'cart', price: 25 }),
      ev(13, { categoryId: 'hats', action: 'purchase', price: 40, itemId: 'i12' }),
    ];
    const l = deriveLabels(window, hasher, cfg);
    expect(l.purchased).to.equal(1);
    expect(l.interests).to.have.length(cfg.categoryVocab);
    const hot = [...l.interests].map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
    expect(hot).to.deep.equal([hasher.category('shoes'), hasher.category('hats')].sort((a, b) => a - b));
    expect(l.tier).to.equal(1); // median(25, 40) = 32.5, between 17.3 and 52: tier 1 (the 500 view is ignored)
    expect(l.nextItems).to.deep.equal([hasher.item('i10'), hasher.item('i12'), hasher.item('i12')]);
  });

  it('falls back to viewed prices, then history, then the middle tier', () => {
    expect(spendingTier([ev(0, { price: 300 })], 4)).to.deep.equal({ tier: 3, source: 'viewed' });
    expect(spendingTier([ev(0, { price: undefined })], 4, undefined, [ev(-1, { price: 5 })])).to.deep.equal({ tier: 0, source: 'history' });
    expect(spendingTier([ev(0, { price: undefined })], 4)).to.deep.equal({ tier: 1, source: 'default' });
    expect(deriveLabels([ev(0, { action: 'cart' })], hasher, cfg).purchased).to.equal(0);
  });
});

describe('buildExamples', () => {
  const users = new Map<string, BehaviourEvent[]>([
    ['long', Array.from({ length: 20 }, (_, i) => ev(i, { userId: 'long' }))],
    ['short', Array.from({ length: 3 }, (_, i) => ev(i, { userId: 'short' }))],
    ['tiny', [ev(0, { userId: 'tiny' })]],
  ]);

  it('uses the per-user time split: history before the cut, labels after', () => {
    const out = buildExamples(users, hasher, cfg);
    expect(out.report).to.deep.include({ users: 3, usersWithoutTest: 1, train: 1, validation: 2, test: 2 });
    const [testLong, testShort] = out.test;
    expect(testLong.userKey).to.equal(hasher.userKey('long'));
    // long: 20 events → train 16, validation [16,17], test [18,19]
    expect(testLong.input.length).to.equal(6);
    expect(testLong.input.item[5]).to.equal(hasher.item('i17'));
    expect(testLong.labels.nextItems).to.deep.equal([hasher.item('i18'), hasher.item('i19')]);
    expect(out.validation[0].input.item[5]).to.equal(hasher.item('i15'));
    expect(out.validation[0].labels.nextItems).to.deep.equal([hasher.item('i16'), hasher.item('i17')]);
    // train: history = train[0:14], labels = train[14:16] (window = test size 2)
    expect(out.train[0].input.item[5]).to.equal(hasher.item('i13'));
    expect(out.train[0].labels.nextItems).to.deep.equal([hasher.item('i14'), hasher.item('i15')]);
    // short: 3 events → 1/1/1: no train example (needs history + window inside train)
    expect(testShort.input.length).to.equal(2);
    expect(out.report.tierSources.viewed).to.equal(5);
  });

  it('adds sliding prefixes oldest cut first, deterministically', () => {
    const a = buildExamples(users, hasher, cfg, { slidingPrefixes: true, prefixStride: 4, maxPrefixesPerUser: 3 });
    expect(a.train.map((x) => x.labels.nextItems)).to.deep.equal([
      [hasher.item('i6'), hasher.item('i7')],
      [hasher.item('i10'), hasher.item('i11')],
      [hasher.item('i14'), hasher.item('i15')],
    ]);
    const b = buildExamples(users, hasher, cfg, { slidingPrefixes: true, prefixStride: 4, maxPrefixesPerUser: 3 });
    expect(b.train.map((x) => [...x.input.item])).to.deep.equal(a.train.map((x) => [...x.input.item]));
    const all = buildExamples(users, hasher, cfg, { slidingPrefixes: true, prefixStride: 1, maxPrefixesPerUser: 100 });
    expect(all.train).to.have.length(14); // cuts 14, 13, …, 1
  });
});
