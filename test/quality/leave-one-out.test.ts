import { expect } from 'chai';
import type { BehaviourEvent } from '../../shared/data/events.js';
import { buildExamples, splitLeaveOneOut } from '../../shared/data/examples.js';
import { createHasher, itemCollisions } from '../../shared/data/hashing.js';
import { NO_ITEM } from '../../shared/data/sequence.js';
import { TINY } from '../training/fixtures.js';

const ev = (itemId: string, t: number, action: BehaviourEvent['action'] = 'view'): BehaviourEvent =>
  ({ userId: 'u1', itemId, categoryId: 'c', action, timestamp: t * 1000 });

describe('quality/leave-one-out protocol', () => {
  it('holds out the last item event for test and the one before for validation, searches riding along', () => {
    const events = [ev('a', 1), ev('b', 2), ev('c', 3), ev(NO_ITEM, 4, 'search'), ev('d', 5), ev(NO_ITEM, 6, 'search')];
    const s = splitLeaveOneOut(events);
    expect(s.train.map((e) => e.itemId)).to.deep.equal(['a', 'b']);
    expect(s.validation.map((e) => e.itemId)).to.deep.equal(['c', NO_ITEM]);
    expect(s.test.map((e) => e.itemId)).to.deep.equal(['d', NO_ITEM]);
    expect(splitLeaveOneOut([ev('a', 1), ev('b', 2)]).test).to.deep.equal([]);
  });

  it('builds examples whose target is the held-out item and whose history is complete, beyond maxLen', () => {
    const hasher = createHasher({ key: 'k', itemVocab: TINY.itemVocab, categoryVocab: TINY.categoryVocab, textVocab: 0, knownItems: 'abcdefghijklmnopqrst'.split('') });
    const letters = 'abcdefghijklmnopqrst'.split(''); // 20 events, maxLen 8
    const users = new Map([['u1', letters.map((l, i) => ev(l, i))]]);
    const sets = buildExamples(users, hasher, TINY, { protocol: 'leave-one-out', slidingPrefixes: true, prefixStride: 4, maxPrefixesPerUser: 3 });
    expect(sets.test).to.have.length(1);
    expect(sets.test[0]!.labels.nextItems).to.deep.equal([hasher.item('t')]);
    expect(Array.from(sets.test[0]!.history!)).to.deep.equal(letters.slice(0, 19).map((l) => hasher.item(l)));
    expect(sets.validation[0]!.labels.nextItems).to.deep.equal([hasher.item('s')]);
    // Train examples end before the validation item: history a..q minus one label item each.
    expect(sets.train.map((e) => e.labels.nextItems[0])).to.deep.equal(['j', 'n', 'r'].map((l) => hasher.item(l)));
    expect(sets.train.every((e) => e.labels.nextItems.length === 1)).to.equal(true);
  });

  it('gives catalogue items collision-free ids and counts collisions of hashed ones', () => {
    const items = Array.from({ length: 900 }, (_, i) => `item-${i}`);
    const exact = createHasher({ key: 'k', itemVocab: 902, categoryVocab: 4, textVocab: 0, knownItems: items });
    expect(itemCollisions(exact, items)).to.deep.equal({ items: 900, ids: 900, collidedItems: 0, collisionRate: 0 });
    const hashed = createHasher({ key: 'k', itemVocab: 4096, categoryVocab: 4, textVocab: 0 });
    const r = itemCollisions(hashed, items);
    expect(r.items).to.equal(900);
    const perId = new Map<number, number>();
    for (const i of items) perId.set(hashed.item(i), (perId.get(hashed.item(i)) ?? 0) + 1);
    expect(r.ids).to.equal(perId.size);
    expect(r.collidedItems).to.equal([...perId.values()].filter((c) => c > 1).reduce((a, c) => a + c, 0));
    expect(r.collisionRate).to.be.within(0.05, 0.4); // ~900²/(2·4094) pairs: far above 1 %, hence the catalogue mode
    expect(() => createHasher({ key: 'k', itemVocab: 800, categoryVocab: 4, textVocab: 0, knownItems: items }))
      .to.throw(/item catalogue lists 900 entries .* raise model.itemVocab to at least 902/);
  });
});
