import { expect } from 'chai';
import {
  dirichlet, fastUniform, gamma, partitionSamplers, seededPermutation, seededUniform, shuffleInPlace,
} from '../../shared/random.js';
import { buildNeighbourGraph } from '../../shared/secagg/graph.js';

const fixed = (xs: number[]) => xs.map((x) => +x.toFixed(12));

// The values the separate partitioner, data-generator and trainer modules gave before they became one:
// every seeded split, synthetic world and local shuffle must stay what it was.
describe('shared/random: the one seeded-randomness module keeps the earlier streams', () => {
  it('shuffle and permutation: same orders as the partitioner and the trainer gave', () => {
    expect(shuffleInPlace([...'abcdefghij'], seededUniform('3:partition/iid')).join('')).to.equal('ihcjedgbaf');
    expect(seededPermutation(8, 's/epoch/0')).to.deep.equal([5, 2, 0, 4, 3, 6, 1, 7]);
  });

  it('the partitioner\'s Dirichlet and LogNormal draws, and the generator\'s Gamma and Dirichlet, are unchanged', () => {
    const rng = seededUniform('7:partition/dirichlet');
    expect(fixed(dirichlet(rng, [0.5, 0.25, 0.1, 0], partitionSamplers(rng).gamma))).to.deep.equal([0.354127789104, 0.52716502617, 0.118707184726, 0]);
    expect(+partitionSamplers(seededUniform('5:partition/quantity-skew')).logNormal(1.5).toFixed(12)).to.equal(1.226546588798);
    expect(+gamma(fastUniform(11), 0.3).toFixed(12)).to.equal(1.239693162998);
    expect(fixed(dirichlet(fastUniform(12), [1, 2, 3]))).to.deep.equal([0.164389388329, 0.423742478248, 0.411868133423]);
  });

  it('refuses a random index outside its bound (a broken source), and a non-positive gamma shape', () => {
    expect(() => shuffleInPlace([1, 2, 3], { index: (b) => b })).to.throw(RangeError, /outside \[0, 2\]/);
    expect(() => buildNeighbourGraph(['a', 'b', 'c'], 2, () => -1)).to.throw(RangeError);
    expect(() => gamma(fastUniform(1), 0)).to.throw(RangeError, /shape must be > 0/);
  });

  it('underflowing Dirichlet draws fall back to one component, chosen in proportion to alpha', () => {
    let zeroOnly = 0;
    const counts = [0, 0];
    for (let i = 0; i < 2000; i++) {
      const u = seededUniform(`underflow/${i}`);
      const d = dirichlet(u, [1, 3], () => 0); // every gamma draw underflows
      zeroOnly += d.reduce((s, x) => s + x, 0) === 1 ? 1 : 0;
      counts[d.indexOf(1)]! += 1;
    }
    expect(zeroOnly).to.equal(2000);
    expect(counts[1]! / 2000).to.be.closeTo(0.75, 0.04);
  });
});
