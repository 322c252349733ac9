import { expect } from 'chai';
import { MeanAccumulator, weightedMean } from '../../shared/aggregation/mean.js';
import { PLAIN_UPDATE, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { FedProfileError } from '../../shared/errors.js';
import { yieldToEventLoop } from '../../shared/event-loop.js';

describe('aggregation: weighted mean', () => {
  it('matches the hand-computed example [1,2]·1 + [3,4]·3 → [2.5, 3.5]', () => {
    const mean = weightedMean([{ values: Float32Array.of(1, 2), weight: 1 }, { values: Float32Array.of(3, 4), weight: 3 }]);
    expect(Array.from(mean)).to.deep.equal([2.5, 3.5]);
  });

  it('accumulates in float64: many small updates around a big offset do not drift', () => {
    // In float32, 1e4 + 1e-3 rounds the 1e-3 away; float64 keeps it, so the mean is exact to float32.
    const updates = Array.from({ length: 1000 }, (_, i) => ({ values: Float32Array.of(i % 2 === 0 ? 10000 : 0.001), weight: 1 }));
    expect(weightedMean(updates)[0]).to.equal(Math.fround((500 * 10000 + 500 * Math.fround(0.001)) / 1000));
  });

  it('the streaming accumulator equals the batch mean bit for bit, in any order', () => {
    let s = 3;
    const rnd = (): number => (s = (s * 48271) % 2147483647) / 2147483647;
    const updates = Array.from({ length: 7 }, () => ({
      values: Float32Array.from({ length: 1001 }, () => rnd() * 2 - 1),
      weight: 1 + Math.floor(rnd() * 500),
    }));
    const batch = weightedMean(updates);
    const acc = new MeanAccumulator(1001);
    for (const u of updates) acc.add(u.values, u.weight);
    expect(acc.count).to.equal(7);
    expect(acc.totalWeight).to.equal(updates.reduce((n, u) => n + u.weight, 0));
    expect(Array.from(acc.result())).to.deep.equal(Array.from(batch));
    const reversed = weightedMean([...updates].reverse());
    let worst = 0;
    for (let i = 0; i < batch.length; i++) worst = Math.max(worst, Math.abs(reversed[i]! - batch[i]!));
    expect(worst).to.be.at.most(1e-7);
  });

  it('rejects wrong lengths, bad weights, non-finite values and empty rounds without half-adding', async () => {
    const acc = new MeanAccumulator(3);
    expect(() => acc.add(new Float32Array(2), 1)).to.throw(FedProfileError, /2 elements, expected 3/);
    expect(() => acc.add(new Float32Array(3), -1)).to.throw(FedProfileError, /weight -1/);
    expect(() => acc.add(new Float32Array(3), NaN)).to.throw(FedProfileError, /weight NaN/);
    expect(() => acc.add(Float32Array.of(1, Infinity, 2), 1)).to.throw(FedProfileError, /non-finite value \(Infinity\) at index 1/);
    expect(() => acc.add(Float32Array.of(5, 5, NaN), 1)).to.throw(FedProfileError, /index 2/);
    expect(acc.count).to.equal(0);
    expect(() => acc.result()).to.throw(FedProfileError, /total weight is 0/);
    acc.add(Float32Array.of(1, 2, 3), 1);
    expect(Array.from(acc.result())).to.deep.equal([1, 2, 3]);
    expect(() => weightedMean([])).to.throw(FedProfileError, /zero updates/);
  });

  it('the plain session in background mode keeps the event loop responsive during a 10M-parameter aggregation', async function () {
    this.timeout(60_000);
    const m = 10_000_000;
    const updates = [1, 2, 3].map((k) => ({ values: new Float32Array(m).fill(k), weight: k }));
    // Baseline: the blocking path really does stall the loop, so this test can tell the two apart.
    const t0 = performance.now();
    const acc0 = new MeanAccumulator(m);
    for (const u of updates) acc0.add(u.values, u.weight);
    acc0.result();
    const blockingMs = performance.now() - t0;

    let last = performance.now();
    let worstGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 2);
    const start = performance.now();
    let settled!: () => void;
    const done = new Promise<void>((resolve) => { settled = resolve; });
    const session = new PlainServerSession({ vectorLength: m, minResults: 3, yieldEvery: 1 << 18, onSettled: () => settled() });
    session.begin(['a', 'b', 'c']);
    // One update per event-loop turn, as socket reads deliver them; each is validated (one pass) on arrival.
    for (const [i, u] of updates.entries()) {
      session.handle('abc'[i]!, PLAIN_UPDATE, { update: u.values, weight: u.weight });
      await yieldToEventLoop();
    }
    await done;
    const elapsed = performance.now() - start;
    const o = session.outcome();
    if (o.status !== 'done') throw new Error('the session should be done');
    const mean = o.mean;
    clearInterval(timer);
    expect(mean[0]).to.equal(Math.fround(14 / 6));
    expect(mean[m - 1]).to.equal(Math.fround(14 / 6));
    // The blocking run holds the loop for its whole duration; the session only for one update's validation
    // pass (finite, |x| and L2 bounds: about a third of the blocking run) or one summing slice at a time;
    // 0.8 of the blocking time is the bound (a session summing inline holds the loop for all of it): on a
    // loaded 2-core machine, inside the whole suite, GC pauses and preemption add up to 0.4 to the third.
    expect(blockingMs, 'blocking baseline').to.be.above(50);
    expect(worstGap, `worst timer gap (blocking run took ${blockingMs.toFixed(0)} ms)`).to.be.below(Math.max(60, blockingMs * 0.8));
    expect(ticks).to.be.above(elapsed / 25);
  });
});
