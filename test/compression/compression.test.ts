import { expect } from 'chai';
import seedrandom from 'seedrandom';
import { decodeTopK, encodeTopK, topKIndices, UpdateCompressor } from '../../shared/compression/index.js';
import { FedProfileError } from '../../shared/errors.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('compression: top-k sparsification', () => {
  it('keeps exactly the k largest magnitudes, bit for bit, in 16 + 8k bytes', () => {
    const x = Float32Array.of(0.1, -5, 0.3, 2, -0.2, 0, 4);
    expect(Array.from(topKIndices(x, 3))).to.deep.equal([1, 3, 6]);
    const bytes = encodeTopK(x, 3);
    expect(bytes.byteLength).to.equal(16 + 24);
    expect(Array.from(decodeTopK(bytes))).to.deep.equal([0, -5, 0, 2, 0, 0, 4]);
    // Ties go to the lower index.
    expect(Array.from(topKIndices(Float32Array.of(1, -1, 1), 2))).to.deep.equal([0, 1]);
  });

  it('rejects corrupted encodings with a reason', () => {
    const bytes = encodeTopK(Float32Array.of(1, 2, 3), 2);
    expect(() => decodeTopK(bytes.slice(0, 20))).to.throw(FedProfileError, /expected 32/);
    const swapped = bytes.slice();
    new DataView(swapped.buffer).setUint32(16, 2, true); // indices 2, 2: not ascending
    expect(() => decodeTopK(swapped)).to.throw(FedProfileError, /not ascending/);
    expect(() => encodeTopK(Float32Array.of(NaN), 1)).to.throw(FedProfileError, /non-finite/);
  });
});

describe('compression: error feedback', () => {
  const rng = seedrandom('ef');
  const u = Float32Array.from({ length: 5000 }, () => (rng() - 0.5) * 0.01);
  const rounds = 40;

  function drift(c: UpdateCompressor, norm: 'max' | 'l2' = 'max'): number {
    const sent = new Float64Array(u.length);
    for (let t = 0; t < rounds; t++) {
      const { decoded } = c.compress(u);
      for (let i = 0; i < u.length; i++) sent[i]! += decoded[i]!;
    }
    const want = Float64Array.from(u, (x) => x * rounds);
    if (norm === 'max') return maxAbsDiff(sent, want);
    return Math.sqrt(sent.reduce((s, x, i) => s + (x - want[i]!) ** 2, 0));
  }

  it('q8: the summed decoded updates track the summed true updates within one step of error', () => {
    const oneStep = maxAbsDiff(new UpdateCompressor({ codec: 'q8', errorFeedback: false }).compress(u).decoded, u);
    const without = drift(new UpdateCompressor({ codec: 'q8', errorFeedback: false }));
    const withEf = drift(new UpdateCompressor({ codec: 'q8' }));
    // Deterministic rounding repeats the same error every round without feedback...
    expect(without).to.be.above(rounds * oneStep * 0.9);
    // ...with feedback the total error stays at most what one round's residual can hold.
    expect(withEf).to.be.at.most(2 * oneStep + 1e-9);
  });

  it('top-k 10 %: error feedback eventually delivers every coordinate', () => {
    // Without feedback 90 % of the update is never sent: the L2 error grows like rounds·‖u‖. With it, the
    // error is only what is still waiting in the residual.
    const withEf = drift(new UpdateCompressor({ codec: 'topk', topkFraction: 0.1 }), 'l2');
    const without = drift(new UpdateCompressor({ codec: 'topk', topkFraction: 0.1, errorFeedback: false }), 'l2');
    const uNorm = Math.sqrt(u.reduce((s, x) => s + x * x, 0));
    expect(without).to.be.above(0.8 * rounds * uNorm);
    expect(withEf).to.be.below(without / 4);
    const c = new UpdateCompressor({ codec: 'topk', topkFraction: 0.01 });
    expect(c.compress(u).bytes.byteLength).to.equal(16 + 8 * 50);
    expect(c.residualNorm()).to.be.above(0);
    expect(() => new UpdateCompressor({ codec: 'topk' })).to.throw(FedProfileError, /topkFraction/);
  });
});
