import { expect } from 'chai';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs';
import { clozeMask, disposeBatch, MASK_ID, toBatch, withNextMask } from '../../shared/model/batch.js';
import { initBackend } from '../../shared/tf/backend.js';
import { FedProfileError } from '../../shared/errors.js';
import { randomSequence, TINY } from './fixtures.js';

describe('model batch helpers', () => {
  before(async () => { await initBackend('wasm'); });

  it('toBatch packs int32 tensors of the configured shapes and clamps out-of-vocabulary side ids to PAD', () => {
    const rng = seedrandom('b1');
    const a = randomSequence(TINY, 5, rng);
    a.category[7] = 999; // out of vocabulary
    const b = toBatch([a, randomSequence(TINY, 8, rng)], TINY);
    expect(b.size).to.equal(2);
    expect(b.item.shape).to.deep.equal([2, 8]);
    expect(b.text.shape).to.deep.equal([2, 8, 3]);
    expect(b.item.dtype).to.equal('int32');
    expect(b.category.arraySync()[0]![7]).to.equal(0);
    expect(Array.from(b.item.dataSync().slice(0, 8))).to.deep.equal(Array.from(a.item));
    disposeBatch(b);
  });

  it('toBatch rejects empty batches, wrong lengths and out-of-range item ids with BAD_INPUT', () => {
    const rng = seedrandom('b2');
    expect(() => toBatch([], TINY)).to.throw(FedProfileError, /zero sequences/);
    const short = randomSequence(TINY, 3, rng);
    short.item = short.item.slice(0, 5);
    expect(() => toBatch([short], TINY)).to.throw(FedProfileError, /length 5, expected maxLen 8/);
    const bad = randomSequence(TINY, 3, rng);
    bad.item[7] = TINY.itemVocab;
    expect(() => toBatch([bad], TINY)).to.throw(FedProfileError, /outside \[0, 40\)/);
  });

  it('withNextMask shifts left by one and puts MASK with empty side fields last', () => {
    const s = randomSequence(TINY, 4, seedrandom('b3'));
    const n = withNextMask(s, TINY);
    expect(Array.from(n.item)).to.deep.equal([...Array.from(s.item.slice(1)), MASK_ID]);
    expect(Array.from(n.category)).to.deep.equal([...Array.from(s.category.slice(1)), 0]);
    expect(Array.from(n.price)).to.deep.equal([...Array.from(s.price.slice(1)), 0]);
    expect(Array.from(n.text)).to.deep.equal([...Array.from(s.text.slice(3)), 0, 0, 0]);
    expect(n.length).to.equal(5);
    const full = withNextMask(randomSequence(TINY, 8, seedrandom('b4')), TINY);
    expect(full.length).to.equal(8);
  });

  it('clozeMask masks only real items, at least one per non-empty sequence, and keeps everything else', () => {
    const rng = seedrandom('b5');
    const seqs = [randomSequence(TINY, 8, rng), randomSequence(TINY, 1, rng), randomSequence(TINY, 0, rng), randomSequence(TINY, 5, rng)];
    const { inputs, positions, targets } = clozeMask(seqs, 0.3, seedrandom('m'));
    const L = TINY.maxLen;
    const perSeq = [0, 0, 0, 0];
    positions.forEach((p, i) => {
      const b = Math.floor(p / L);
      const l = p % L;
      perSeq[b]!++;
      expect(seqs[b]!.item[l]).to.be.at.least(2);
      expect(targets[i]).to.equal(seqs[b]!.item[l]);
      expect(inputs[b]!.item[l]).to.equal(MASK_ID);
      expect(inputs[b]!.category[l]).to.equal(0);
      expect(inputs[b]!.action[l]).to.equal(0);
      expect(Array.from(inputs[b]!.text.slice(l * 3, l * 3 + 3))).to.deep.equal([0, 0, 0]);
    });
    expect(perSeq[0]).to.be.at.least(1);
    expect(perSeq[1]).to.equal(1);
    expect(perSeq[2]).to.equal(0);
    expect(perSeq[3]).to.be.at.least(1);
    expect(Array.from(positions)).to.deep.equal([...positions].sort((a, b) => a - b));
    const maskedSet = new Set(positions);
    seqs.forEach((s, b) => {
      for (let l = 0; l < L; l++) if (!maskedSet.has(b * L + l)) expect(inputs[b]!.item[l]).to.equal(s.item[l]);
    });
    // inputs are copies: the originals are untouched
    expect(seqs[1]!.item[7]).to.be.at.least(2);
  });

  it('clozeMask is reproducible from the rng and masks about maskProb of the items', () => {
    const rng = seedrandom('b6');
    const seqs = Array.from({ length: 200 }, () => randomSequence(TINY, 8, rng));
    const a = clozeMask(seqs, 0.25, seedrandom('same'));
    const b = clozeMask(seqs, 0.25, seedrandom('same'));
    expect(Array.from(a.positions)).to.deep.equal(Array.from(b.positions));
    const rate = a.positions.length / (200 * 8);
    expect(rate).to.be.within(0.22, 0.31);
    expect(() => clozeMask(seqs, 0, seedrandom('x'))).to.throw(FedProfileError, /maskProb/);
  });

  it('leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    disposeBatch(toBatch([randomSequence(TINY, 3, seedrandom('b7'))], TINY));
    expect(tf.memory().numTensors).to.equal(before);
  });
});
