import { expect } from 'chai';
import { PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { sampleIds } from '../../shared/aggregation/sampling.js';
import { RoundEngine } from '../../shared/round/engine.js';
import { roundRng } from '../../shared/random.js';
import type { RoundCommand, RoundEngineConfig, RoundEvent, RoundPlanner } from '../../shared/round/types.js';

const HASH0 = '0'.repeat(64);
const HASH1 = '1'.repeat(64);

/** A FedAvg-like planner: seeded over-selection of ceil(clientsPerRound × overSelection), quorum 2. */
const planner = (clientsPerRound = 3, overSelection = 1.34, evaluate = true): RoundPlanner => ({
  configureFit: (round, available, rng) => sampleIds(available, Math.ceil(clientsPerRound * overSelection - 1e-9), rng)
    .map((clientId, i) => ({ clientId, config: { round, phase: 'finetune', localEpochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd', seed: round * 100 + i } })),
  minFitResults: () => 2,
  targetFitResults: () => clientsPerRound,
  configureEvaluate: (_round, available) => (evaluate ? [...available] : []),
  aggregateEvaluate: (_r, results) => {
    const n = results.reduce((s, r) => s + r.numExamples, 0);
    return { loss: results.reduce((s, r) => s + r.metrics.loss! * r.numExamples, 0) / n };
  },
});

function config(over: Partial<RoundEngineConfig> = {}): RoundEngineConfig {
  return {
    federationId: 'f1', seed: 7, rounds: 2, minClients: 3,
    deadlines: { trainMs: 1000, aggregationStageMs: 500, evaluateMs: 300 },
    aggregation: { kind: 'plain', params: {} }, ...over,
  };
}

type EventInput = RoundEvent extends infer E ? (E extends unknown ? Omit<E, 'now'> : never) : never;

/** Drives the engine with fake time and records every command. */
function harness(cfg = config(), plan = planner()) {
  const o = new RoundEngine(cfg, plan, ({ minResults, targetResults }) =>
    new PlainServerSession({ vectorLength: 2, minResults, targetResults }),
  { status: 'created', completedRounds: 0, lastRound: 0, modelHash: HASH0 });
  let now = 1_000;
  const log: RoundCommand[] = [];
  const send = (ev: EventInput): RoundCommand[] => {
    const cmds = o.handle({ now, ...ev } as RoundEvent);
    log.push(...cmds);
    return cmds;
  };
  return { o, log, send, advance: (ms: number) => { now += ms; return send({ type: 'tick' }); }, now: () => now };
}

const of = <T extends RoundCommand['type']>(cmds: RoundCommand[], t: T) =>
  cmds.filter((c): c is Extract<RoundCommand, { type: T }> => c.type === t);

const update = (v: number[], weight: number) => ({ update: Float32Array.from(v), weight });

describe('RoundEngine (pure, fake time)', () => {
  it('waits for minClients, then selects with over-selection and sends fit to each participant', () => {
    const h = harness();
    h.send({ type: 'start' });
    for (const id of ['a', 'b']) expect(of(h.send({ type: 'client-online', clientId: id }), 'round-started')).to.have.length(0);
    h.send({ type: 'client-online', clientId: 'c' });
    h.send({ type: 'client-online', clientId: 'd' });
    // Only the 3rd client triggered the round: ceil(3 × 1.34) = 5 > 3 online, so all 3 were taken.
    const started = of(h.log, 'round-started');
    expect(started).to.have.length(1);
    expect(started[0]!.participants).to.deep.equal(['a', 'b', 'c']);
    const fits = of(h.log, 'send').filter((s) => s.message.type === 'fit');
    expect(fits.map((f) => f.to)).to.deep.equal(['a', 'b', 'c']);
    const msg = fits[0]!.message;
    expect(msg.type === 'fit' && msg.modelHash).to.equal(HASH0);
    expect(msg.type === 'fit' && msg.deadline).to.equal(1_000 + 1000);
    expect(of(h.log, 'timer').at(-1)!.at).to.equal(2_000);
  });

  it('seeded sampling is deterministic and independent of arrival order', () => {
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const a = sampleIds(ids, 5, roundRng(3, 4, 'fit'));
    const b = sampleIds([...ids].reverse(), 5, roundRng(3, 4, 'fit'));
    const c = sampleIds(ids, 5, roundRng(3, 5, 'fit'));
    expect(a).to.deep.equal(b);
    expect(a).to.not.deep.equal(c);
    expect(new Set(a).size).to.equal(5);
  });

  it('completes a round with the weighted mean, commits, evaluates, then starts the next round', () => {
    const h = harness();
    h.send({ type: 'start' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'client-online', clientId: id });
    h.send({ type: 'fit-meta', from: 'a', round: 1, numExamples: 1, metrics: { loss: 2 }, trainMs: 10 });
    h.send({ type: 'fit-meta', from: 'b', round: 1, numExamples: 3, metrics: { loss: 1 }, trainMs: 30 });
    h.send({ type: 'agg-message', from: 'a', round: 1, aggType: 'plain/update', payload: update([1, 0], 1) });
    h.send({ type: 'agg-message', from: 'b', round: 1, aggType: 'plain/update', payload: update([0, 4], 3) });
    const cmds = h.send({ type: 'agg-message', from: 'c', round: 1, aggType: 'plain/update', payload: update([2, 2], 4) });
    const commit = of(cmds, 'commit')[0]!;
    expect(commit.outcome.totalWeight).to.equal(8);
    expect([...commit.outcome.mean]).to.deep.equal([(1 + 8) / 8, (12 + 8) / 8]);
    expect(commit.summary.metrics['train.loss']).to.equal((2 * 1 + 1 * 3) / 4);
    expect(commit.summary.metrics.maxTrainMs).to.equal(30);
    expect(of(cmds, 'timer').at(-1)!.at).to.equal(null);
    // While the commit is in flight, nothing new starts.
    expect(of(h.advance(5000), 'round-started')).to.have.length(0);
    const after = h.send({ type: 'committed', round: 1, modelHash: HASH1 });
    const evals = of(after, 'send').filter((s) => s.message.type === 'evaluate');
    expect(evals.map((e) => e.to)).to.deep.equal(['a', 'b', 'c']);
    h.send({ type: 'eval-result', from: 'a', round: 1, numExamples: 1, metrics: { loss: 3 } });
    h.send({ type: 'eval-result', from: 'b', round: 1, numExamples: 1, metrics: { loss: 1 } });
    const fin = h.send({ type: 'eval-result', from: 'c', round: 1, numExamples: 2, metrics: { loss: 2 } });
    expect(of(fin, 'round-evaluated')[0]!.metrics).to.deep.equal({ loss: 2 });
    const next = of(fin, 'round-started');
    expect(next).to.have.length(1);
    expect(next[0]!.round).to.equal(2);
    const fit2 = of(fin, 'send').find((s) => s.message.type === 'fit')!.message;
    expect(fit2.type === 'fit' && fit2.modelHash).to.equal(HASH1);
  });

  it('rejects a late result after the deadline closed the round with a quorum, and counts it', () => {
    const h = harness();
    h.send({ type: 'start' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'client-online', clientId: id });
    h.send({ type: 'agg-message', from: 'a', round: 1, aggType: 'plain/update', payload: update([1, 1], 1) });
    h.send({ type: 'agg-message', from: 'b', round: 1, aggType: 'plain/update', payload: update([3, 3], 1) });
    expect(of(h.advance(999), 'commit')).to.have.length(0);
    const cmds = h.advance(1);
    const commit = of(cmds, 'commit')[0]!;
    expect(commit.summary.contributors).to.deep.equal(['a', 'b']);
    expect([...commit.outcome.mean]).to.deep.equal([2, 2]);
    const late = h.send({ type: 'agg-message', from: 'c', round: 1, aggType: 'plain/update', payload: update([9, 9], 1) });
    expect(of(late, 'reject')[0]).to.include({ clientId: 'c', reason: 'late', code: 'DEADLINE' });
  });

  it('fails the round without quorum at the deadline, keeps the model, and retries with a new round number', () => {
    const h = harness(config(), planner(3, 1.34, false));
    h.send({ type: 'start' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'client-online', clientId: id });
    h.send({ type: 'agg-message', from: 'a', round: 1, aggType: 'plain/update', payload: update([1, 1], 1) });
    const cmds = h.advance(1000);
    expect(of(cmds, 'commit')).to.have.length(0);
    expect(of(cmds, 'round-failed')[0]!.reason).to.match(/quorum not reached: 1 of 2/);
    const ends = of(cmds, 'send').filter((s) => s.message.type === 'round-end');
    expect(ends).to.have.length(3);
    const retry = of(cmds, 'round-started')[0]!;
    expect(retry.round).to.equal(2);
    expect(h.o.snapshot()).to.include({ completedRounds: 0, modelHash: HASH0 });
  });

  it('drops a disconnecting participant from the current round only', () => {
    const h = harness(config(), planner(3, 1.34, false));
    h.send({ type: 'start' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'client-online', clientId: id });
    h.send({ type: 'agg-message', from: 'a', round: 1, aggType: 'plain/update', payload: update([1, 1], 1) });
    h.send({ type: 'agg-message', from: 'b', round: 1, aggType: 'plain/update', payload: update([3, 3], 1) });
    const cmds = h.send({ type: 'client-offline', clientId: 'c' });
    expect(of(cmds, 'commit')[0]!.summary.contributors).to.deep.equal(['a', 'b']);
    h.send({ type: 'committed', round: 1, modelHash: HASH1 });
    // c is back: it is eligible again for round 2.
    const back = h.send({ type: 'client-online', clientId: 'c' });
    expect(of(back, 'round-started')[0]!.participants).to.include('c');
  });

  it('rejects malformed, duplicate and unselected updates without disturbing the round', () => {
    const h = harness(config({ minClients: 2 }), planner(2, 1, false));
    h.send({ type: 'start' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'client-online', clientId: id });
    const parts = of(h.log, 'round-started')[0]!.participants;
    const outsider = ['a', 'b', 'c'].find((x) => !parts.includes(x))!;
    const [p, q] = parts as [string, string];
    expect(of(h.send({ type: 'agg-message', from: outsider, round: 1, aggType: 'plain/update', payload: update([1, 1], 1) }), 'reject')[0]!.reason).to.equal('not-selected');
    expect(of(h.send({ type: 'agg-message', from: p, round: 1, aggType: 'plain/update', payload: update([1, 1, 1], 1) }), 'reject')[0]!.reason).to.equal('bad_input');
    expect(of(h.send({ type: 'agg-message', from: p, round: 1, aggType: 'plain/nope', payload: {} }), 'reject')[0]!.reason).to.equal('protocol');
    h.send({ type: 'agg-message', from: p, round: 1, aggType: 'plain/update', payload: update([1, 1], 1) });
    expect(of(h.send({ type: 'agg-message', from: p, round: 1, aggType: 'plain/update', payload: update([1, 1], 1) }), 'reject')[0]!.reason).to.equal('replay');
    const done = h.send({ type: 'agg-message', from: q, round: 1, aggType: 'plain/update', payload: update([3, 5], 1) });
    expect([...of(done, 'commit')[0]!.outcome.mean]).to.deep.equal([2, 3]);
  });

  it('pause lets the current round finish but starts no new one; stop fails the running round', () => {
    const h = harness(config(), planner(3, 1.34, false));
    h.send({ type: 'start' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'client-online', clientId: id });
    h.send({ type: 'pause' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'agg-message', from: id, round: 1, aggType: 'plain/update', payload: update([1, 1], 1) });
    expect(of(h.send({ type: 'committed', round: 1, modelHash: HASH1 }), 'round-started')).to.have.length(0);
    expect(of(h.send({ type: 'resume' }), 'round-started')[0]!.round).to.equal(2);
    const stop = h.send({ type: 'stop' });
    expect(of(stop, 'round-failed')[0]!.reason).to.match(/stopped/);
    expect(h.o.snapshot().status).to.equal('stopped');
  });

  it('finishes after the configured number of completed rounds', () => {
    const h = harness(config({ rounds: 1 }), planner(3, 1.34, false));
    h.send({ type: 'start' });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'client-online', clientId: id });
    for (const id of ['a', 'b', 'c']) h.send({ type: 'agg-message', from: id, round: 1, aggType: 'plain/update', payload: update([1, 1], 1) });
    const cmds = h.send({ type: 'committed', round: 1, modelHash: HASH1 });
    expect(of(cmds, 'status')[0]!.status).to.equal('completed');
    expect(of(cmds, 'round-started')).to.have.length(0);
  });
});
