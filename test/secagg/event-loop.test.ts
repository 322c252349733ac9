import { expect } from 'chai';
import { MSG } from '../../shared/secagg/messages.js';
import type { SecAggServerSession } from '../../shared/secagg/server.js';
import { Harness, compare, weightedMean, type Sent } from './harness.js';

/** Longest the event loop may be held at once while a SecAgg+ round unmasks (the bound). */
const MAX_STALL_MS = 50;
const M = 100_000;
const N = 40;

/**
 * Runs a round with dropouts after sharing (so unmasking rebuilds pair masks, the expensive case) up to
 * the last unmask answer, holds that answer back, and returns a function delivering it to `server`.
 */
function roundUpToLastAnswer(unmaskInWorker: boolean): { h: Harness; server: SecAggServerSession; last: Sent } {
  const updates = Array.from({ length: N }, (_, i) => { const u = new Float32Array(M); for (let j = 0; j < M; j += 97) u[j] = ((i + j) % 7) / 10 - 0.3; return u; });
  const h = new Harness(updates, Array.from({ length: N }, (_, i) => 1 + (i % 9)), { federationId: 'loop', round: 1, dimension: M, maxWeight: 10 }, { unmaskInWorker });
  const droppers = new Set(h.ids.slice(0, 8));
  const answers: Sent[] = [];
  h.beforeServer = (m) => {
    if (droppers.has(m.from) && m.type === MSG.maskedInput) { h.drop(m.from); return false; }
    if (m.type === MSG.unmaskShares) { answers.push(m); return answers.length < N - droppers.size; }
    return true;
  };
  h.begin();
  h.pump();
  expect(h.server.stage).to.equal('unmask');
  return { h, server: h.server, last: answers.at(-1)! };
}

/** Longest gap between ticks of a 2 ms timer while `work` runs. */
async function longestStallWhile(work: () => Promise<void>): Promise<number> {
  const ticks: number[] = [];
  const ticker = setInterval(() => ticks.push(performance.now()), 2);
  await new Promise((r) => setTimeout(r, 20));
  const start = performance.now();
  await work();
  const end = performance.now();
  await new Promise((r) => setTimeout(r, 10));
  clearInterval(ticker);
  const inWindow = [start, ...ticks.filter((t) => t > start && t < end + 10)];
  let maxGap = 0;
  for (let i = 1; i < inWindow.length; i++) maxGap = Math.max(maxGap, inWindow[i]! - inWindow[i - 1]!);
  return maxGap;
}

describe('SecAgg+ unmasking keeps the event loop free', function () {
  this.timeout(60_000);

  it(`n = ${N}, m = 100k, 8 dropped after sharing: no stall over ${MAX_STALL_MS} ms with the worker; the mean is exact`, async () => {
    // The synchronous path, for scale: the same step on the event loop.
    const sync = roundUpToLastAnswer(false);
    const t0 = performance.now();
    sync.server.handle(sync.last.from, sync.last.type, sync.last.payload);
    const syncMs = performance.now() - t0;
    expect(sync.server.outcome().status).to.equal('done');

    // On a shared machine the scheduler alone can pause a process for tens of ms: a real stall shows up
    // in every attempt, so the test takes the better of two.
    let maxGap = Infinity;
    let run: ReturnType<typeof roundUpToLastAnswer> | undefined;
    for (let attempt = 0; attempt < 2 && maxGap >= MAX_STALL_MS; attempt++) {
      run = roundUpToLastAnswer(true);
      maxGap = Math.min(maxGap, await longestStallWhile(async () => {
        run!.server.handle(run!.last.from, run!.last.type, run!.last.payload);
        expect(run!.server.stage).to.equal('unmasking');
        expect(run!.server.outcome().status).to.equal('pending');
        await run!.server.settled();
      }));
    }
    const { h, server } = run!;
    expect(maxGap, `longest stall ${maxGap.toFixed(1)} ms (synchronous unmasking: ${syncMs.toFixed(0)} ms)`).to.be.below(MAX_STALL_MS);
    expect(syncMs, 'the synchronous unmasking is slow enough for this test to matter').to.be.above(MAX_STALL_MS);

    const o = server.outcome();
    if (o.status !== 'done') expect.fail(`round did not finish: ${o.status === 'aborted' ? o.reason : 'pending'}`);
    expect(o.contributors).to.have.length(N - 8);
    expect(o.metrics.pairMasksRemoved).to.be.above(0);
    const { maxErr, allowed } = compare(weightedMean(h.updates, h.weights, h.ids, o.contributors), o.mean, o.metrics.quantisationErrorBound!);
    expect(maxErr).to.be.at.most(allowed);
  });
});
