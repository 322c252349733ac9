import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { causalTargets, toBatch } from '../../shared/model/batch.js';
import { ProfileModel } from '../../shared/model/profile-model.js';
import { initBackend } from '../../shared/tf/backend.js';
import { handExample, TINY } from '../training/fixtures.js';

describe('quality/causal next-item model', () => {
  before(async () => { await initBackend('cpu'); });

  it('trains every real position on its successor and the latest on the label item', () => {
    const a = handExample({ items: [5, 6, 7] }).input; // left-padded to 8: positions 5, 6, 7
    const b = handExample({ items: [9, 10] }).input; // positions 6, 7
    const t = causalTargets([a, b], [8, 0]);
    expect(Array.from(t.positions)).to.deep.equal([5, 6, 7, 8 + 6]);
    expect(Array.from(t.targets)).to.deep.equal([6, 7, 8, 10]);
    // A share of 0 keeps only the latest positions that have a target.
    expect(Array.from(causalTargets([a, b], [8, 0], 1e-9, () => 0.5).positions)).to.deep.equal([7]);
  });

  it('never lets a position see the events after it', () => {
    const model = ProfileModel.create({ ...TINY, causal: true, dropout: 0 }, 7);
    const bidirectional = ProfileModel.create({ ...TINY, dropout: 0 }, 7);
    try {
      const early = handExample({ items: [3, 4, 5, 6, 7] }).input;
      const changed = handExample({ items: [3, 4, 5, 6, 20] }).input; // only the latest event differs
      const hidden = (m: ProfileModel) => tf.tidy(() => {
        const h = m.encode(toBatch([early, changed], m.config), false);
        // Real events sit at positions 3..7; compare 3..6 (PAD rows are never read).
        return Array.from(tf.sub(tf.slice(h, [0, 3, 0], [1, 4, TINY.dModel]), tf.slice(h, [1, 3, 0], [1, 4, TINY.dModel])).abs().max().dataSync())[0]!;
      });
      expect(hidden(model)).to.equal(0);
      expect(hidden(bidirectional)).to.be.greaterThan(1e-4);
    } finally {
      model.dispose();
      bidirectional.dispose();
    }
  });
});
