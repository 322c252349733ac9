import { expect } from 'chai';
import { runSecAggInMemory, type DropPoint } from '../../shared/secagg/driver.js';
import type { AggregationOutcome } from '../../shared/aggregation/seam.js';
import { Harness, compare, randomUpdates, weightedMean } from './harness.js';

type Done = Extract<AggregationOutcome, { status: 'done' }>;
function expectDone(o: AggregationOutcome): Done {
  if (o.status !== 'done') expect.fail(`round did not finish: ${o.status === 'aborted' ? o.reason : 'pending'}`);
  return o as Done;
}

function checkAgainstPlain(h: Harness, outcome: AggregationOutcome): Done {
  const done = expectDone(outcome);
  const expected = weightedMean(h.updates, h.weights, h.ids, done.contributors);
  const { maxErr, allowed } = compare(expected, done.mean, done.metrics.quantisationErrorBound!);
  expect(maxErr, `max error ${maxErr} vs bound ${allowed}`).to.be.at.most(allowed);
  expect(done.totalWeight).to.equal(done.contributors.reduce((s, c) => s + h.weights[h.ids.indexOf(c)]!, 0));
  return done;
}

describe('SecAgg+ round: aggregate equals weighted FedAvg within the quantisation bound', () => {
  // k is derived from n (default) except for n = 200, where a sparser explicit graph keeps the test quick.
  for (const [n, m, k] of [[5, 300, undefined], [20, 500, undefined], [60, 200, undefined], [200, 50, 12]] as const) {
    it(`n = ${n}, m = ${m}, k = ${k ?? 'derived'}, no dropout`, () => {
      const updates = randomUpdates(n, m, 0.5, n);
      const weights = Array.from({ length: n }, (_, i) => 1 + ((i * 37) % 90));
      const r = runSecAggInMemory({
        updates, weights, params: { federationId: 'f', round: 3, dimension: m, clip: 1, maxWeight: 100, ...(k ? { neighbors: k } : {}) },
      });
      const done = expectDone(r.outcome);
      expect(r.rejected).to.deep.equal([]);
      expect(done.contributors).to.have.length(n);
      const expected = weightedMean(updates, weights, done.contributors.map((_, i) => `c${String(i).padStart(5, '0')}`), done.contributors);
      const { maxErr, allowed } = compare(expected, done.mean, done.metrics.quantisationErrorBound!);
      expect(maxErr).to.be.at.most(allowed);
      expect(allowed).to.be.below(1e-5); // the bound is tight enough to be worth asserting
      expect(done.metrics.dropouts).to.equal(0);
      expect(done.metrics.clippedFraction).to.equal(0);
      expect(done.metrics.threshold! * 2).to.be.greaterThan(done.metrics.neighbors!);
      expect(done.metrics.bitWidth).to.be.within(8, 32);
    });
  }

  const dropCases: Array<[DropPoint, string]> = [
    ['after-advertise', 'after advertising keys'],
    ['after-share-keys', 'after sharing keys (pair masks must be rebuilt)'],
    ['after-masked-input', 'after masked input, i.e. during unmask (still counted)'],
  ];
  for (const [point, label] of dropCases) {
    it(`clients dropping ${label}`, () => {
      const n = 30, m = 200;
      const updates = randomUpdates(n, m, 0.3, 7);
      const weights = Array.from({ length: n }, (_, i) => 10 + i);
      const dropAt: Record<string, DropPoint> = { c00003: point, c00011: point, c00017: point };
      const r = runSecAggInMemory({
        updates, weights, dropAt, params: { federationId: 'f', round: 1, dimension: m, neighbors: 12, threshold: 7, maxWeight: 64 },
      });
      const done = expectDone(r.outcome);
      const all = Array.from({ length: n }, (_, i) => `c${String(i).padStart(5, '0')}`);
      const expectContrib = point === 'after-masked-input' ? n : n - 3;
      expect(done.contributors).to.have.length(expectContrib);
      if (point !== 'after-masked-input') expect(done.contributors).to.not.include.members(['c00003', 'c00011', 'c00017']);
      if (point === 'after-share-keys') expect(done.metrics.pairMasksRemoved).to.be.greaterThan(0);
      const expected = weightedMean(updates, weights, all, done.contributors);
      const { maxErr, allowed } = compare(expected, done.mean, done.metrics.quantisationErrorBound!);
      expect(maxErr).to.be.at.most(allowed);
      expect(r.rejected).to.deep.equal([]);
    });
  }

  it('clients dropping before advertising', () => {
    const n = 12, m = 100;
    const updates = randomUpdates(n, m, 0.3, 9);
    const weights = Array(n).fill(5) as number[];
    const r = runSecAggInMemory({ updates, weights, dropAt: { c00000: 'before-advertise' }, params: { federationId: 'f', round: 1, dimension: m } });
    const done = expectDone(r.outcome);
    expect(done.contributors).to.not.include('c00000');
    expect(done.metrics.dropouts).to.equal(1);
  });

  it('a client dropping in the middle of unmask (after others answered) still counts', () => {
    const h = new Harness(randomUpdates(8, 64, 0.2, 4), [3, 1, 4, 1, 5, 9, 2, 6], { federationId: 'f', round: 2, dimension: 64, maxWeight: 10 });
    let answered = 0;
    h.beforeServer = (msg) => {
      if (msg.type === 'secagg/unmask-shares' && ++answered === 4) { h.drop(msg.from); return false; }
      return true;
    };
    h.begin();
    const done = checkAgainstPlain(h, h.run());
    expect(done.contributors).to.have.length(8);
  });

  it('complete graph n = 7, k = 6, t = 4: two dropouts after sharing are the most it survives; a third aborts', () => {
    const run = (drops: number): AggregationOutcome => {
      const h = new Harness(randomUpdates(7, 50, 0.2, drops + 1), [1, 2, 3, 4, 5, 6, 7],
        { federationId: 'f', round: 1, dimension: 50, neighbors: 6, threshold: 4, maxWeight: 8 });
      h.beforeServer = (msg) => {
        const i = h.ids.indexOf(msg.from);
        if (msg.type === 'secagg/masked-input' && i < drops) { h.drop(msg.from); return false; }
        return true;
      };
      h.begin();
      const o = h.run();
      if (o.status === 'done') checkAgainstPlain(h, o);
      return o;
    };
    const ok = expectDone(run(2));
    expect(ok.contributors).to.have.length(5);
    expect(ok.metrics.droppedAfterSharing).to.equal(2);
    const bad = run(3);
    expect(bad.status).to.equal('aborted');
    if (bad.status === 'aborted') expect(bad.reason).to.match(/only 3 surviving share holders of the 4 needed/);
  });

  it('sparse graph n = 40, k = 8, t = 5: k − t = 3 dropped neighbours of one client are tolerated, 4 abort', () => {
    const run = (drops: number): AggregationOutcome => {
      const h = new Harness(randomUpdates(40, 40, 0.2, 11), Array(40).fill(2) as number[],
        { federationId: 'f', round: 1, dimension: 40, neighbors: 8, threshold: 5, maxWeight: 2 });
      h.begin(); // the graph exists now: drop `drops` neighbours of one client before they mask
      const victim = h.ids[0]!;
      const doomed = new Set(h.server.neighbourGraph.get(victim)!.slice(0, drops));
      h.beforeServer = (msg) => {
        if (msg.type === 'secagg/masked-input' && doomed.has(msg.from)) { h.drop(msg.from); return false; }
        return true;
      };
      const o = h.run();
      if (o.status === 'done') checkAgainstPlain(h, o);
      return o;
    };
    expect(expectDone(run(3)).contributors).to.have.length(37);
    const bad = run(4);
    expect(bad.status).to.equal('aborted');
    if (bad.status === 'aborted') expect(bad.reason).to.match(/share holders of the 5 needed/);
  });

  it('clipping is reported: the clipped fraction is aggregated and the mean is that of the clipped updates', () => {
    const n = 6, m = 100;
    const updates = randomUpdates(n, m, 0.5, 3);
    // client 0 has 40 coordinates beyond the clip bound, client 1 has 10: (40 + 10) / (6 · 100) overall.
    for (let j = 0; j < 40; j++) updates[0]![j] = 3;
    for (let j = 0; j < 10; j++) updates[1]![j] = -2;
    const weights = [1, 2, 3, 4, 5, 6];
    const r = runSecAggInMemory({ updates, weights, params: { federationId: 'f', round: 1, dimension: m, clip: 1, maxWeight: 8 } });
    const done = expectDone(r.outcome);
    expect(done.metrics.clippedFraction).to.be.closeTo(50 / 600, 1e-4);
    const all = done.contributors;
    const expected = weightedMean(updates, weights, all, all, 1);
    const { maxErr, allowed } = compare(expected, done.mean, done.metrics.quantisationErrorBound!);
    expect(maxErr).to.be.at.most(allowed);
    expect(r.clients.get('c00000')!.clippedCount).to.equal(40);
  });

  it('aborts cleanly with a reason when too few clients take part', () => {
    const r = runSecAggInMemory({ updates: randomUpdates(2, 10, 0.1), weights: [1, 1], params: { federationId: 'f', round: 1, dimension: 10 } });
    expect(r.outcome.status).to.equal('aborted');
    if (r.outcome.status === 'aborted') expect(r.outcome.reason).to.match(/at least 3 participants/);
  });

  it('weights above maxWeight are capped and flagged on the client', () => {
    const updates = randomUpdates(5, 20, 0.1, 2);
    const r = runSecAggInMemory({ updates, weights: [1, 2, 3, 4, 50], params: { federationId: 'f', round: 1, dimension: 20, maxWeight: 10 } });
    const done = expectDone(r.outcome);
    expect(done.totalWeight).to.equal(1 + 2 + 3 + 4 + 10);
    expect(r.clients.get('c00004')!.weightCapped).to.equal(true);
  });
});
