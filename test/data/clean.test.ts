import { expect } from 'chai';
import { cleanEventStream, cleanEvents, splitByTime } from '../../shared/data/clean.js';
import type { BehaviourEvent } from '../../shared/data/events.js';

const ev = (userId: string, timestamp: number, itemId = `i${timestamp}`, action: BehaviourEvent['action'] = 'view'): BehaviourEvent =>
  ({ userId, timestamp, itemId, categoryId: 'c', action });

describe('data cleaning', () => {
  it('groups by user, removes exact duplicates only, sorts stably by time and caps to the most recent', () => {
    const input = [
      ev('a', 30), ev('b', 5), ev('a', 10), ev('a', 10), // exact duplicate of the previous one
      ev('a', 10, 'i10', 'click'), // same item and time, different action: not a duplicate
      ev('a', 20, 'x'), ev('a', 20, 'y'), // equal timestamps keep input order
      ev('b', 1), ev('c', 7),
    ];
    const { users, report } = cleanEvents(input, { maxEvents: 4 });
    expect([...users.keys()]).to.deep.equal(['a', 'b', 'c']);
    expect(users.get('a')!.map((e) => [e.timestamp, e.itemId, e.action])).to.deep.equal([
      [10, 'i10', 'click'], [20, 'x', 'view'], [20, 'y', 'view'], [30, 'i30', 'view'],
    ]);
    expect(users.get('b')!.map((e) => e.timestamp)).to.deep.equal([1, 5]);
    expect(report).to.deep.equal({
      inputEvents: 9, inputUsers: 3, duplicatesRemoved: 1, usersCapped: 1, cappedRemoved: 1,
      usersDroppedTooFew: 0, eventsDroppedTooFew: 0, outputUsers: 3, outputEvents: 7,
    });
  });

  it('drops users below minEvents and counts them', async () => {
    async function* gen(): AsyncGenerator<BehaviourEvent> {
      yield ev('a', 1); yield ev('a', 2); yield ev('b', 1); yield ev('b', 1);
    }
    const { users, report } = await cleanEventStream(gen(), { minEvents: 2 });
    expect([...users.keys()]).to.deep.equal(['a']);
    expect(report.duplicatesRemoved).to.equal(1);
    expect(report.usersDroppedTooFew).to.equal(1);
    expect(report.eventsDroppedTooFew).to.equal(1);
    expect(report.outputEvents).to.equal(2);
  });

  describe('splitByTime', () => {
    const seq = (n: number): BehaviourEvent[] => Array.from({ length: n }, (_, i) => ev('u', i));
    const sizes = (n: number, o?: Parameters<typeof splitByTime>[1]): number[] => {
      const s = splitByTime(seq(n), o);
      return [s.train.length, s.validation.length, s.test.length];
    };

    it('holds out the most recent events: test last, validation just before', () => {
      const s = splitByTime(seq(20));
      expect(s.train.map((e) => e.timestamp)).to.deep.equal(Array.from({ length: 16 }, (_, i) => i));
      expect(s.validation.map((e) => e.timestamp)).to.deep.equal([16, 17]);
      expect(s.test.map((e) => e.timestamp)).to.deep.equal([18, 19]);
    });

    it('follows the documented sizes for small and odd users', () => {
      expect(sizes(2)).to.deep.equal([2, 0, 0]);
      expect(sizes(3)).to.deep.equal([1, 1, 1]);
      expect(sizes(10)).to.deep.equal([8, 1, 1]);
      expect(sizes(25)).to.deep.equal([19, 3, 3]);
      expect(sizes(4, { testFraction: 0.5, validationFraction: 0.5 })).to.deep.equal([1, 1, 2]);
      expect(sizes(10, { testFraction: 0.2, validationFraction: 0 })).to.deep.equal([8, 0, 2]);
      expect(sizes(5, { minEventsToSplit: 6 })).to.deep.equal([5, 0, 0]);
    });
  });
});
