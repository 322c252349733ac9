import { expect } from 'chai';
import { leaveOneOutSplit } from '../../shared/data/leave-one-out.js';

describe('leaveOneOutSplit', () => {
  it('holds out the last item as test and the second-last as validation, keeping file order on ties', () => {
    const split = leaveOneOutSplit([
      { itemId: 'c', timestamp: 5 },
      { itemId: 'a', timestamp: 1 },
      { itemId: 'd', timestamp: 5 },
      { itemId: 'b', timestamp: 2 },
      { itemId: 'e', timestamp: 9 },
    ]);
    expect(split).to.deep.equal({ train: ['a', 'b', 'c'], validation: 'd', test: 'e' });
  });

  it('keeps sequences shorter than three items for training only', () => {
    expect(leaveOneOutSplit([{ itemId: 'a', timestamp: 1 }, { itemId: 'b', timestamp: 2 }])).to.deep.equal({
      train: ['a', 'b'],
      validation: null,
      test: null,
    });
  });
});
