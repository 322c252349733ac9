import { expect } from 'chai';
import { buildTransitionModel, rankNextItems } from '../../shared/training/transitions.js';

describe('transition model', () => {
  const model = buildTransitionModel([
    ['a', 'b', 'x', 'x2'],
    ['a', 'b', 'y', 'z'],
    ['c', 'b', 'y', 'p'],
    ['p', 'q', 'p', 'q'],
  ]);

  it('ranks the most frequent successor of the last item above popular items', () => {
    expect(rankNextItems(model, ['a', 'b'], 3)).to.deep.equal(['y', 'x', 'p']);
  });

  it('backs off to popularity and excludes history when the last item has no successors', () => {
    expect(rankNextItems(model, ['z'], 2)).to.deep.equal(['b', 'p']);
  });
});
