import { expect } from 'chai';
import { ConfigError } from '../../shared/errors.js';
import { createHasher, wordTokens } from '../../shared/data/hashing.js';
import { gapBucket, priceBucket } from '../../shared/data/buckets.js';

const opts = { key: 'federation-secret', itemVocab: 1000, categoryVocab: 33, textVocab: 500 };

describe('keyed hashing', () => {
  it('keeps ids inside their ranges and away from reserved ids', () => {
    const h = createHasher(opts);
    for (let i = 0; i < 3000; i++) {
      const item = h.item(`item-${i}`);
      expect(item).to.be.within(2, 999);
      expect(h.category(`cat-${i}`)).to.be.within(1, 32);
      for (const w of h.text(`word${i} other${i}`)) expect(w).to.be.within(1, 499);
    }
  });

  it('uses the whole item range roughly uniformly', () => {
    const h = createHasher({ ...opts, itemVocab: 12 });
    const counts = new Array<number>(12).fill(0);
    for (let i = 0; i < 10_000; i++) counts[h.item(`x${i}`)]++;
    expect(counts[0]).to.equal(0);
    expect(counts[1]).to.equal(0);
    for (let id = 2; id < 12; id++) expect(counts[id]).to.be.within(850, 1150);
  });

  it('is stable across hashers with the same key and differs with another key', () => {
    const a = createHasher(opts);
    const b = createHasher(opts);
    const c = createHasher({ ...opts, key: 'another-secret' });
    const ids = Array.from({ length: 50 }, (_, i) => `sku-${i}`);
    expect(ids.map(a.item)).to.deep.equal(ids.map(b.item));
    expect(a.userKey('alice')).to.equal(b.userKey('alice'));
    expect(a.userKey('alice')).to.match(/^[0-9a-f]{32}$/);
    expect(a.userKey('alice')).to.not.equal(a.userKey('bob'));
    expect(c.userKey('alice')).to.not.equal(a.userKey('alice'));
    const same = ids.filter((id) => a.item(id) === c.item(id)).length;
    expect(same).to.be.below(5); // 50 draws over 998 slots: ~2.5 coincidences expected by chance
  });

  it('a Uint8Array key equals the same bytes given as a string', () => {
    const a = createHasher(opts);
    const b = createHasher({ ...opts, key: new TextEncoder().encode('federation-secret') });
    expect(b.item('sku-1')).to.equal(a.item('sku-1'));
  });

  it('tokenises text into lower-case words and hashes each word the same way everywhere', () => {
    const h = createHasher(opts);
    expect(wordTokens('Red RUNNING-shoes, size 42! Café')).to.deep.equal(['red', 'running', 'shoes', 'size', '42', 'café']);
    const ids = h.text('Red shoes red', 2);
    expect(ids).to.have.length(2);
    expect(h.text('RED')).to.deep.equal([ids[0]]);
    expect(h.text('red shoes red')[2]).to.equal(ids[0]);
    expect(createHasher({ ...opts, textVocab: 0 }).text('red')).to.deep.equal([]);
  });

  it('gives listed categories collision-free ids, the same for every merchant with the same list', () => {
    const cats = Array.from({ length: 32 }, (_, i) => `category-${i}`);
    const a = createHasher({ ...opts, knownCategories: cats });
    const b = createHasher({ ...opts, knownCategories: [...cats].reverse() });
    const idsA = cats.map((c) => a.category(c));
    expect(new Set(idsA).size).to.equal(32);
    expect(cats.map((c) => b.category(c))).to.deep.equal(idsA);
    const plain = createHasher(opts);
    expect(new Set(cats.map((c) => plain.category(c))).size).to.be.below(32); // plain hashing collides
  });

  it('keeps a local reverse map from hashed category ids to the raw names seen', () => {
    const h = createHasher(opts);
    const id = h.category('shoes');
    h.category('hats');
    expect(h.categoryNames(id)).to.include('shoes');
    expect(h.categoryNames(0)).to.deep.equal([]);
  });

  it('rejects bad vocabularies and an empty key with a ConfigError', () => {
    expect(() => createHasher({ ...opts, itemVocab: 2 })).to.throw(ConfigError, /itemVocab/);
    expect(() => createHasher({ ...opts, categoryVocab: 1 })).to.throw(ConfigError, /categoryVocab/);
    expect(() => createHasher({ ...opts, key: '' })).to.throw(ConfigError, /key/);
  });
});

describe('buckets', () => {
  it('price: log-spaced, 0 for unknown/disabled, monotone, saturating', () => {
    expect(priceBucket(undefined, 16)).to.equal(0);
    expect(priceBucket(-1, 16)).to.equal(0);
    expect(priceBucket(10, 0)).to.equal(0);
    expect(priceBucket(0, 16)).to.equal(1);
    expect(priceBucket(1e9, 16)).to.equal(15);
    // log1p(p)/log1p(10000)·15: 9 → 3.75 → bucket 4; 99 → 7.5 → 8; 999 → 11.25 → 12
    expect([9, 99, 999].map((p) => priceBucket(p, 16))).to.deep.equal([4, 8, 12]);
    let prev = 0;
    for (let p = 0; p < 20_000; p = p * 1.3 + 0.1) {
      const b = priceBucket(p, 16);
      expect(b).to.be.at.least(prev);
      prev = b;
    }
  });

  it('gap: first event (0 s) is bucket 1, 30+ days is the last bucket', () => {
    expect(gapBucket(0, 16)).to.equal(1);
    expect(gapBucket(60 * 86_400, 16)).to.equal(15);
    expect(gapBucket(5, 0)).to.equal(0);
    expect(gapBucket(60, 16)).to.be.below(gapBucket(3600, 16));
    expect(gapBucket(3600, 16)).to.be.below(gapBucket(86_400, 16));
  });
});
