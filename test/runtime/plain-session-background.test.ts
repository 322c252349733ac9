import { expect } from 'chai';
import { PLAIN_UPDATE, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { FedProfileError } from '../../shared/errors.js';
import { yieldToEventLoop } from '../../shared/event-loop.js';
import { VectorWorker } from '../../shared/aggregation/vector-worker.js';

const LENGTH = 10_007; // not a multiple of the chunk size
const vec = (seed: number) => Float32Array.from({ length: LENGTH }, (_, i) => Math.sin(i * 0.37 + seed) * (seed + 1));
const code = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return e instanceof FedProfileError ? e.code : 'not-a-FedProfileError'; }
  return undefined;
};

type Options = ConstructorParameters<typeof PlainServerSession>[0];

/** A background-mode session whose onSettled calls are counted and awaitable. */
function background(opts: Omit<Options, 'onSettled'>) {
  let calls = 0;
  let wake: () => void = () => undefined;
  let settledOnce = new Promise<void>((resolve) => { wake = resolve; });
  const s = new PlainServerSession({ ...opts, onSettled: () => { calls++; wake(); } });
  return {
    s,
    calls: () => calls,
    settled: () => settledOnce,
    reset: () => { settledOnce = new Promise<void>((resolve) => { wake = resolve; }); },
  };
}

describe('PlainServerSession in background mode (yieldEvery)', () => {
  it('sums in the background: pending until settled, then bit-identical to the synchronous session', async () => {
    const sync = new PlainServerSession({ vectorLength: LENGTH, minResults: 2, maxWeight: 50 });
    const watched = background({ vectorLength: LENGTH, minResults: 2, maxWeight: 50, yieldEvery: 1000 });
    const bg = watched.s;
    for (const s of [sync, bg]) s.begin(['a', 'b', 'c']);
    const updates: Array<[string, number]> = [['b', 7], ['a', 80], ['c', 13]];
    for (const [id, w] of updates) {
      sync.handle(id, PLAIN_UPDATE, { update: vec(w), weight: w });
      bg.handle(id, PLAIN_UPDATE, { update: vec(w), weight: w });
    }
    expect(sync.outcome().status).to.equal('done');
    expect(bg.outcome().status).to.equal('pending');
    expect(bg.stage).to.equal('aggregating');
    // Collection is closed while summing: a late or repeated update is refused as before.
    expect(code(() => bg.handle('a', PLAIN_UPDATE, { update: vec(1), weight: 1 }))).to.equal('DEADLINE');
    expect(watched.calls()).to.equal(0);
    await watched.settled();
    expect(watched.calls()).to.equal(1);
    const a = sync.outcome();
    const b = bg.outcome();
    if (a.status !== 'done' || b.status !== 'done') throw new Error('both sessions should be done');
    expect(Buffer.from(b.mean.buffer).equals(Buffer.from(a.mean.buffer))).to.equal(true);
    expect(b.totalWeight).to.equal(70); // 7 + 50 (capped) + 13
    expect(b.contributors).to.deep.equal(['b', 'a', 'c']);
    expect(b.metrics).to.deep.equal(a.metrics);
    expect(bg.stage).to.equal('done');
  });

  it('yields to the event loop while summing (a timer fires before the outcome is ready)', async () => {
    const w = background({ vectorLength: 400_000, minResults: 1, yieldEvery: 10_000 });
    const s = w.s;
    s.begin(['a']);
    let timerFiredWhilePending = false;
    setTimeout(() => { timerFiredWhilePending = s.outcome().status === 'pending'; }, 0);
    s.handle('a', PLAIN_UPDATE, { update: new Float32Array(400_000).fill(0.5), weight: 2 });
    await w.settled();
    expect(timerFiredWhilePending).to.equal(true);
    const o = s.outcome();
    expect(o.status === 'done' && o.mean.every((x) => x === 0.5)).to.equal(true);
  });

  it('rejects a non-finite update at once (in handle), leaving the sender pending', async () => {
    const w = background({ vectorLength: LENGTH, minResults: 1, yieldEvery: 1000 });
    const s = w.s;
    s.begin(['a']);
    const bad = vec(1);
    bad[LENGTH - 1] = Number.NaN;
    expect(code(() => s.handle('a', PLAIN_UPDATE, { update: bad, weight: 1 }))).to.equal('BAD_INPUT');
    expect(s.stage).to.equal('collect');
    s.handle('a', PLAIN_UPDATE, { update: vec(1), weight: 1 });
    await w.settled();
    expect(s.outcome().status).to.equal('done');
  });

  it('aborts on a missed quorum even with updates still queued; the abort is the input\'s outcome, not a settle', async () => {
    const w = background({ vectorLength: LENGTH, minResults: 3, yieldEvery: 100 });
    const s = w.s;
    s.begin(['a', 'b', 'c']);
    s.handle('a', PLAIN_UPDATE, { update: vec(1), weight: 1 });
    s.dropped('b');
    s.dropped('c');
    const o = s.outcome();
    expect(o.status).to.equal('aborted');
    for (let i = 0; i < 200; i++) await yieldToEventLoop();
    expect(s.outcome()).to.deep.equal(o);
    expect(w.calls()).to.equal(0);
  });

  it('closes at the deadline with the quorum and completes in the background', async () => {
    const w = background({ vectorLength: LENGTH, minResults: 1, yieldEvery: 1000 });
    const s = w.s;
    s.begin(['a', 'b']);
    s.handle('a', PLAIN_UPDATE, { update: vec(2), weight: 4 });
    s.expire();
    expect(s.stage).to.equal('aggregating');
    await w.settled();
    const o = s.outcome();
    expect(o.status === 'done' && o.metrics.stragglers).to.equal(1);
    if (o.status === 'done') expect(Buffer.from(o.mean.buffer).equals(Buffer.from(vec(2).buffer))).to.equal(true);
  });

  it('refuses a bad yieldEvery', () => {
    expect(code(() => new PlainServerSession({ vectorLength: 2, minResults: 1, yieldEvery: 0 }))).to.equal('BAD_CONFIG');
  });
});

describe('PlainServerSession summing on the aggregation worker (real worker thread)', function () {
  this.timeout(30_000);
  const worker = new VectorWorker();
  after(() => worker.close());

  it('gives the synchronous session\'s mean bit for bit, settles through onSettled, and takes updates by transfer', async () => {
    const sync = new PlainServerSession({ vectorLength: LENGTH, minResults: 2, maxWeight: 50 });
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => { settle = resolve; });
    const remote = new PlainServerSession({ vectorLength: LENGTH, minResults: 2, maxWeight: 50, accumulator: worker.accumulator(LENGTH), onSettled: () => settle() });
    for (const s of [sync, remote]) s.begin(['a', 'b', 'c']);
    const sent: Float32Array[] = [];
    for (const [id, w] of [['b', 7], ['a', 80], ['c', 13]] as const) {
      sync.handle(id, PLAIN_UPDATE, { update: vec(w), weight: w });
      const u = vec(w);
      sent.push(u);
      remote.handle(id, PLAIN_UPDATE, { update: u, weight: w });
    }
    expect(remote.outcome().status).to.equal('pending');
    expect(sent.every((u) => u.length === 0), 'buffers were transferred, not copied').to.equal(true);
    await settled;
    const a = sync.outcome();
    const b = remote.outcome();
    if (a.status !== 'done' || b.status !== 'done') throw new Error('both sessions should be done');
    expect(Buffer.from(b.mean.buffer).equals(Buffer.from(a.mean.buffer))).to.equal(true);
    expect(b.totalWeight).to.equal(a.totalWeight);
    expect(b.metrics).to.deep.equal(a.metrics);
  });

  it('a worker accumulator without onSettled is refused', () => {
    expect(code(() => new PlainServerSession({ vectorLength: 2, minResults: 1, accumulator: worker.accumulator(2) }))).to.equal('BAD_CONFIG');
  });
});
