import { expect } from 'chai';
import { PLAIN_UPDATE, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { sampleIds } from '../../shared/aggregation/sampling.js';
import { yieldToEventLoop } from '../../shared/event-loop.js';
import { RoundEngine } from '../../shared/round/engine.js';
import type { RoundCommand, RoundEvent, RoundPlanner } from '../../shared/round/types.js';

/*
 * The interleavings that used to stall a round when the runtime polled a background-summing session: the
 * outcome is now pushed by the session (onSettled → 'session-settled'), so every order below must commit
 * without any further client message or deadline.
 */

const LENGTH = 5_003;
const vec = (seed: number) => Float32Array.from({ length: LENGTH }, (_, i) => Math.cos(i * 0.11 + seed));

const planner: RoundPlanner = {
  configureFit: (round, available, rng) => sampleIds(available, 3, rng)
    .map((clientId) => ({ clientId, config: { round, phase: 'finetune', localEpochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd', seed: 1 } })),
  minFitResults: () => 2,
  targetFitResults: () => 3,
  configureEvaluate: () => [],
  aggregateEvaluate: () => ({}),
};

type EventInput = RoundEvent extends infer E ? (E extends unknown ? Omit<E, 'now'> : never) : never;

/** The coordinator's wiring in miniature: background sessions whose settle becomes an engine event. */
function driver() {
  const log: RoundCommand[] = [];
  let now = 0;
  let engine: RoundEngine | undefined;
  const send = (ev: EventInput): RoundCommand[] => {
    const cmds = engine!.handle({ now, ...ev } as RoundEvent);
    log.push(...cmds);
    return cmds;
  };
  engine = new RoundEngine(
    { federationId: 'f', seed: 1, rounds: 5, minClients: 3, deadlines: { trainMs: 1000, aggregationStageMs: 500, evaluateMs: 300 }, aggregation: { kind: 'plain', params: {} } },
    planner,
    ({ round, minResults, targetResults }) => new PlainServerSession({
      vectorLength: LENGTH, minResults, targetResults, yieldEvery: 1000,
      onSettled: () => queueMicrotask(() => send({ type: 'session-settled', round })),
    }),
    { status: 'created', completedRounds: 0, lastRound: 0, modelHash: '0'.repeat(64) },
  );
  const commits = () => log.filter((c): c is Extract<RoundCommand, { type: 'commit' }> => c.type === 'commit');
  /** Lets background summing finish; no client message or tick is sent meanwhile. */
  const idle = async () => { for (let i = 0; i < 100 && engine!.snapshot().stage.startsWith('fit:'); i++) await yieldToEventLoop(); };
  return { send, log, commits, idle, advance: (ms: number) => { now += ms; return send({ type: 'tick' }); }, snapshot: () => engine!.snapshot() };
}

const up = (from: string, seed: number, weight: number, round = 1): EventInput =>
  ({ type: 'agg-message', from, round, aggType: PLAIN_UPDATE, payload: { update: vec(seed), weight } });
const meta = (from: string, round = 1): EventInput =>
  ({ type: 'fit-meta', from, round, numExamples: 1, metrics: { loss: 1 }, trainMs: 5 });

function start() {
  const d = driver();
  d.send({ type: 'start' });
  for (const id of ['a', 'b', 'c']) d.send({ type: 'client-online', clientId: id });
  expect(d.snapshot().round).to.equal(1);
  return d;
}

describe('round engine × background aggregation: the settle is an event', () => {
  it('fit-meta then the last update in the same read: commits once the sum is done, with no further input', async () => {
    const d = start();
    d.send(up('a', 1, 1));
    d.send(up('b', 2, 2));
    // One socket read carrying both of c's messages: handled back to back, no event-loop turn between them.
    d.send(meta('c'));
    d.send(up('c', 3, 3));
    expect(d.snapshot().stage).to.equal('fit:aggregating');
    expect(d.commits()).to.have.length(0);
    await d.idle();
    expect(d.commits()).to.have.length(1);
    expect(d.commits()[0]!.outcome.contributors).to.deep.equal(['a', 'b', 'c']);
    expect(d.commits()[0]!.outcome.totalWeight).to.equal(6);
    expect(d.snapshot().stage).to.equal('commit');
  });

  it('the last update then fit-meta while summing: the meta still counts and the round commits once', async () => {
    const d = start();
    d.send(up('a', 1, 1));
    d.send(up('b', 2, 1));
    d.send(up('c', 3, 1));
    d.send(meta('c'));
    await d.idle();
    expect(d.commits()).to.have.length(1);
    expect(d.commits()[0]!.summary.metrics.maxTrainMs).to.equal(5);
  });

  it('every update in one read before any summing ran: one commit with the exact mean', async () => {
    const d = start();
    d.send(meta('a'));
    d.send(meta('b'));
    for (const [id, s] of [['a', 1], ['b', 2], ['c', 3]] as const) d.send(up(id, s, 1));
    await d.idle();
    const c = d.commits();
    expect(c).to.have.length(1);
    const mean = c[0]!.outcome.mean;
    for (const i of [0, 17, LENGTH - 1]) expect(mean[i]).to.equal(Math.fround((Math.fround(Math.cos(i * 0.11 + 1)) + Math.fround(Math.cos(i * 0.11 + 2)) + Math.fround(Math.cos(i * 0.11 + 3))) / 3));
  });

  it('the deadline closes collection with a quorum while summing: the settle commits without another tick', async () => {
    const d = start();
    d.send(up('a', 1, 1));
    d.send(up('b', 2, 1));
    d.advance(1000);
    expect(d.snapshot().stage).to.equal('fit:aggregating');
    await d.idle();
    expect(d.commits()).to.have.length(1);
    expect(d.commits()[0]!.outcome.contributors).to.deep.equal(['a', 'b']);
  });

  it('a settle for a round that was stopped meanwhile is ignored', async () => {
    const d = start();
    d.send(up('a', 1, 1));
    d.send(up('b', 2, 1));
    d.send(up('c', 3, 1));
    d.send({ type: 'stop' });
    await d.idle();
    for (let i = 0; i < 50; i++) await yieldToEventLoop();
    expect(d.commits()).to.have.length(0);
    expect(d.log.filter((c) => c.type === 'round-failed')).to.have.length(1);
  });

  it('a settle addressed to an older round does not touch the current one', async () => {
    const d = start();
    const cmds = d.send({ type: 'session-settled', round: 7 });
    expect(cmds.filter((c) => c.type === 'commit')).to.have.length(0);
    expect(d.snapshot().stage).to.equal('fit:collect');
  });
});

describe('round engine: an aggregator that cannot be built', () => {
  it('changes nothing, pauses the federation with the reason, and does not throw into the transport', () => {
    const engine = new RoundEngine(
      { federationId: 'f', seed: 1, rounds: 2, minClients: 3, deadlines: { trainMs: 1000, aggregationStageMs: 500, evaluateMs: 300 }, aggregation: { kind: 'secagg', params: {} } },
      planner,
      () => { throw new Error('secureAggregation.threshold: must be > neighbors / 2'); },
      { status: 'created', completedRounds: 0, lastRound: 4, modelHash: '0'.repeat(64) },
    );
    const log: RoundCommand[] = [];
    log.push(...engine.handle({ type: 'start', now: 0 }));
    for (const id of ['a', 'b', 'c']) log.push(...engine.handle({ type: 'client-online', clientId: id, now: 1 }));
    expect(engine.snapshot()).to.include({ status: 'paused', lastRound: 4, stage: 'idle' });
    expect(log.filter((c) => c.type === 'round-started')).to.have.length(0);
    expect(log.filter((c) => c.type === 'send')).to.have.length(0);
    const warn = log.find((c) => c.type === 'log' && c.msg.includes('cannot start'));
    expect(warn && warn.type === 'log' && warn.msg).to.match(/round 5 cannot start; federation paused: secureAggregation.threshold/);
  });
});

describe('round engine: a stopped round frees its aggregation session', () => {
  it('the worker-side sum of a round stopped while collecting is dropped, not leaked', () => {
    const calls: string[] = [];
    const accumulator = { add: () => { calls.push('add'); }, mean: () => new Promise<Float32Array>(() => undefined), drop: () => { calls.push('drop'); } };
    const engine = new RoundEngine(
      { federationId: 'f', seed: 1, rounds: 2, minClients: 3, deadlines: { trainMs: 1000, aggregationStageMs: 500, evaluateMs: 300 }, aggregation: { kind: 'plain', params: {} } },
      planner,
      ({ minResults, targetResults }) => new PlainServerSession({ vectorLength: 2, minResults, targetResults, accumulator, onSettled: () => undefined }),
      { status: 'created', completedRounds: 0, lastRound: 0, modelHash: '0'.repeat(64) },
    );
    engine.handle({ type: 'start', now: 0 });
    for (const id of ['a', 'b', 'c']) engine.handle({ type: 'client-online', clientId: id, now: 0 });
    engine.handle({ type: 'agg-message', from: 'a', round: 1, aggType: PLAIN_UPDATE, payload: { update: Float32Array.of(1, 2), weight: 1 }, now: 1 });
    const cmds = engine.handle({ type: 'stop', now: 2 });
    expect(cmds.some((c) => c.type === 'round-failed')).to.equal(true);
    expect(calls).to.deep.equal(['add', 'drop']);
  });
});
