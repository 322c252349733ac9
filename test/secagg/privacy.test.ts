import { expect } from 'chai';
import { MSG } from '../../shared/secagg/messages.js';
import { Harness } from './harness.js';

/**
 * What the server sees of one client: across many rounds its masked vector must look uniform on Z_2^32 and
 * carry no trace of the update. The same statistics on the unmasked fixed-point vector fail, which shows
 * the test can tell.
 */
describe('SecAgg+ privacy: a masked vector is independent of the update', () => {
  it('mean ≈ 2^31, variance ≈ 2^64/12, |corr(update, masked)| small over many runs', () => {
    const runs = 60, m = 256, n = 4;
    const xs: number[] = [];
    const ys: number[] = [];
    for (let r = 0; r < runs; r++) {
      // Client 0's update takes extreme, varying values: its sign pattern changes from run to run.
      const updates = Array.from({ length: n }, (_, i) => Float32Array.from({ length: m }, (_, j) =>
        i === 0 ? (((j * 7 + r * 13) % 3) - 1) * 0.9 : 0.1));
      const h = new Harness(updates, [5, 5, 5, 5], { federationId: 'priv', round: r, dimension: m, maxWeight: 5 });
      h.beforeServer = (msg) => {
        if (msg.type === MSG.maskedInput && msg.from === h.ids[0]) {
          const v = (msg.payload as { vector: Uint32Array }).vector;
          for (let j = 0; j < m; j++) { xs.push(updates[0]![j]!); ys.push(v[j]!); }
        }
        return true;
      };
      h.begin();
      expect(h.run().status).to.equal('done');
    }
    const N = ys.length;
    const mean = (a: number[]): number => a.reduce((s, x) => s + x, 0) / a.length;
    const my = mean(ys);
    const vy = ys.reduce((s, y) => s + (y - my) ** 2, 0) / N;
    const uniformVar = 2 ** 64 / 12;
    // Standard error of the mean of N uniforms is sqrt(Var/N); allow 5 of them.
    expect(Math.abs(my - 2 ** 31)).to.be.below(5 * Math.sqrt(uniformVar / N));
    expect(vy / uniformVar).to.be.within(0.95, 1.05);
    const corr = (a: number[], b: number[]): number => {
      const ma = mean(a), mb = mean(b);
      let sab = 0, saa = 0, sbb = 0;
      for (let i = 0; i < a.length; i++) { sab += (a[i]! - ma) * (b[i]! - mb); saa += (a[i]! - ma) ** 2; sbb += (b[i]! - mb) ** 2; }
      return sab / Math.sqrt(saa * sbb);
    };
    expect(Math.abs(corr(xs, ys))).to.be.below(5 / Math.sqrt(N));
    // Sanity check of the test itself: the unmasked encoding (signed) correlates perfectly with the update.
    const unmasked = xs.map((x) => Math.round(x * 2 ** 20));
    expect(corr(xs, unmasked)).to.be.above(0.99);
    // And a top bit that tracks the sign (as two's complement of the plain encoding would) is absent here.
    const topBitAgree = ys.filter((y, i) => xs[i] !== 0 && (y >= 2 ** 31) === (xs[i]! < 0)).length;
    const nonZero = xs.filter((x) => x !== 0).length;
    expect(topBitAgree / nonZero).to.be.closeTo(0.5, 5 * 0.5 / Math.sqrt(nonZero));
  });
});
