import { expect } from 'chai';
import { partitionUnits, type PartitionUnit } from '../../simulations/partition/index.js';
import { FedProfileError } from '../../shared/errors.js';

/** 400 users, each concentrated on one of 8 categories (7 of 8 events), spread over 5 merchants. */
function makeUnits(n = 400): PartitionUnit[] {
  return Array.from({ length: n }, (_, i) => {
    const main = `c${i % 8}`;
    const other = `c${(i + 3) % 8}`;
    return { id: `u${i}`, merchantId: `m${i % 5}`, numEvents: 8 + (i % 5), categoryCounts: { [main]: 7, [other]: 1 } };
  });
}

const schemes = [
  { type: 'iid' as const },
  { type: 'dirichlet' as const, alpha: 0.3 },
  { type: 'quantity-skew' as const, sigma: 1 },
  { type: 'natural' as const },
  { type: 'per-user' as const },
];

describe('partitioners', () => {
  for (const spec of schemes) {
    it(`${spec.type}: assigns every user exactly once and is deterministic for a seed`, () => {
      const units = makeUnits();
      const opts = { spec, clients: spec.type === 'natural' || spec.type === 'per-user' ? undefined : 10, seed: 7, emptyClient: 'skip' as const };
      const a = partitionUnits(units, opts);
      const b = partitionUnits([...units].reverse(), opts);
      expect(b).to.deep.equal(a);
      const all = a.clients.flatMap((c) => c.unitIds);
      expect(all.length).to.equal(units.length);
      expect(new Set(all).size).to.equal(units.length);
      expect(a.stats.unitsUnassigned).to.equal(0);
      const expectedClients = spec.type === 'natural' ? 5 : spec.type === 'per-user' ? 400 : 10;
      expect(a.clients.length).to.equal(expectedClients);
      if (spec.type !== 'natural' && spec.type !== 'per-user') {
        const c = partitionUnits(units, { ...opts, seed: 8 });
        expect(c.clients).to.not.deep.equal(a.clients);
      }
    });
  }

  it('dirichlet with small alpha is measurably more skewed than iid and than large alpha', () => {
    const units = makeUnits(800);
    const base = { clients: 20, seed: 3, emptyClient: 'skip' as const };
    const iid = partitionUnits(units, { ...base, spec: { type: 'iid' } }).stats.categoryDivergence;
    const big = partitionUnits(units, { ...base, spec: { type: 'dirichlet', alpha: 1000 } }).stats.categoryDivergence;
    const small = partitionUnits(units, { ...base, spec: { type: 'dirichlet', alpha: 0.1 } }).stats.categoryDivergence;
    expect(iid).to.be.below(0.2);
    expect(big).to.be.below(0.25);
    expect(small).to.be.above(0.45);
    expect(small).to.be.above(iid + 0.35);
    // Hsu et al. keep client sizes equal: only the mix is skewed.
    const sizes = partitionUnits(units, { ...base, spec: { type: 'dirichlet', alpha: 0.1 } }).stats.unitsPerClient;
    expect(sizes.max - sizes.min).to.be.at.most(1);
  });

  it('quantity-skew gives unequal sizes that sum to the users, at least one each', () => {
    const r = partitionUnits(makeUnits(), { spec: { type: 'quantity-skew', sigma: 1.5 }, clients: 10, seed: 1, emptyClient: 'reject' });
    expect(r.stats.unitsPerClient.min).to.be.at.least(1);
    expect(r.stats.unitsPerClient.max).to.be.above(3 * r.stats.unitsPerClient.mean / 2);
    expect(r.clients.reduce((s, c) => s + c.unitIds.length, 0)).to.equal(400);
  });

  it('natural keeps the largest merchants when clients caps it, and counts the rest', () => {
    const units = makeUnits(100).map((u, i) => ({ ...u, merchantId: i < 60 ? 'big' : i < 90 ? 'mid' : 'small' }));
    const r = partitionUnits(units, { spec: { type: 'natural' }, clients: 2, seed: 0, emptyClient: 'skip' });
    expect(r.clients.map((c) => c.clientId)).to.deep.equal(['merchant-big', 'merchant-mid']);
    expect(r.stats.unitsUnassigned).to.equal(10);
  });

  it('natural without merchant ids is a clear config error', () => {
    const units = makeUnits(10).map(({ merchantId: _m, ...u }) => u);
    expect(() => partitionUnits(units, { spec: { type: 'natural' }, seed: 0, emptyClient: 'skip' }))
      .to.throw(FedProfileError, /partition\.type.*merchantId/);
  });

  it('empty clients are skipped and reported, or rejected, as configured', () => {
    const units = makeUnits(6);
    const skipped = partitionUnits(units, { spec: { type: 'iid' }, clients: 10, seed: 0, emptyClient: 'skip' });
    expect(skipped.clients.length).to.equal(6);
    expect(skipped.stats.emptyClients.length).to.equal(4);
    expect(() => partitionUnits(units, { spec: { type: 'iid' }, clients: 10, seed: 0, emptyClient: 'reject' }))
      .to.throw(FedProfileError, /4 of 10 clients get no data/);
  });

  it('per-user with a client cap samples that many users', () => {
    const r = partitionUnits(makeUnits(), { spec: { type: 'per-user' }, clients: 50, seed: 5, emptyClient: 'skip' });
    expect(r.clients.length).to.equal(50);
    expect(r.clients.every((c) => c.unitIds.length === 1)).to.equal(true);
    expect(r.stats.unitsUnassigned).to.equal(350);
  });
});
