import { expect } from 'chai';
import { PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { RoundEngine as RoundOrchestrator } from '../../shared/round/engine.js';
import type { RoundCommand as OrchestratorCommand, RoundEngineConfig as OrchestratorConfig, RoundEvent as OrchestratorEvent, RoundPlanner } from '../../shared/round/types.js';
import { afterRoundFailure, backoffDelayMs, DEFAULT_FAILURE_POLICY, type FailurePolicy } from '../../shared/round/backoff.js';
import { quorumWait } from '../../shared/round/quorum-wait.js';

const HASH0 = '0'.repeat(64);
const POLICY: FailurePolicy = { backoffMs: 1000, maxBackoffMs: 3000, maxConsecutiveFailures: 4 };

const planner = (minFit = 2): RoundPlanner => ({
  configureFit: (round, available) => available.map((clientId, i) => ({
    clientId, config: { round, phase: 'finetune', localEpochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd', seed: i },
  })),
  minFitResults: () => minFit,
  targetFitResults: () => 3,
  configureEvaluate: () => [],
  aggregateEvaluate: () => ({}),
});

type EventInput = OrchestratorEvent extends infer E ? (E extends unknown ? Omit<E, 'now'> : never) : never;

function harness(over: Partial<OrchestratorConfig> = {}, minFit = 2) {
  const cfg: OrchestratorConfig = {
    federationId: 'f', seed: 1, rounds: 3, minClients: 2, failurePolicy: POLICY,
    deadlines: { trainMs: 100, aggregationStageMs: 100, evaluateMs: 100 }, aggregation: { kind: 'plain', params: {} }, ...over,
  };
  const o = new RoundOrchestrator(cfg, planner(minFit), ({ minResults, targetResults }) =>
    new PlainServerSession({ vectorLength: 2, minResults, targetResults }),
  { status: 'created', completedRounds: 0, lastRound: 0, modelHash: HASH0 });
  let now = 10_000;
  const send = (ev: EventInput): OrchestratorCommand[] => o.handle({ now, ...ev } as OrchestratorEvent);
  return { o, send, at: () => now, tick: (ms: number) => { now += ms; return send({ type: 'tick' }); } };
}

const of = <T extends OrchestratorCommand['type']>(cmds: OrchestratorCommand[], t: T) =>
  cmds.filter((c): c is Extract<OrchestratorCommand, { type: T }> => c.type === t);

describe('failed rounds: backoff, auto-pause and the quorum wait', () => {
  it('backoff doubles from backoffMs and stops at the cap; the Nth consecutive failure pauses with the last reason', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(POLICY, n))).to.deep.equal([1000, 2000, 3000, 3000, 3000]);
    expect(backoffDelayMs(DEFAULT_FAILURE_POLICY, 100)).to.equal(DEFAULT_FAILURE_POLICY.maxBackoffMs);
    expect(afterRoundFailure(POLICY, 2, 50, 'x')).to.deep.equal({ kind: 'retry', retryAt: 2050, delayMs: 2000 });
    const pause = afterRoundFailure(POLICY, 4, 50, 'quorum not reached: 1 of 2 results');
    expect(pause.kind).to.equal('pause');
    expect(pause.kind === 'pause' && pause.reason).to.equal('paused after 4 consecutive failed rounds; last failure: '
      + 'quorum not reached: 1 of 2 results. Fix the cause (see the clients\' errors), then resume.');
  });

  it('a failed round is not retried at once: the next starts only after the backoff, then the federation pauses', () => {
    const h = harness();
    h.send({ type: 'start' });
    h.send({ type: 'client-online', clientId: 'good' });
    h.send({ type: 'client-online', clientId: 'bad' });
    const starts: number[] = [h.at()];
    const delays: number[] = [];
    for (let failure = 1; failure <= 4; failure++) {
      // The good client sends its update, the bad one reports its error: the quorum of 2 is out of reach.
      h.send({ type: 'agg-message', from: 'good', round: failure, aggType: 'plain/update', payload: { update: Float32Array.from([1, 1]), weight: 1 } });
      const failed = h.send({ type: 'fit-failed', from: 'bad', round: failure, reason: 'data file /srv/events.jsonl not found' });
      expect(of(failed, 'round-failed')[0]!.reason).to.match(/quorum/);
      expect(of(failed, 'round-started'), 'no immediate retry').to.have.length(0);
      if (failure === 4) {
        expect(of(failed, 'status')[0]).to.deep.include({ status: 'paused' });
        expect(of(failed, 'status')[0]!.reason).to.match(/^paused after 4 consecutive failed rounds; last failure: quorum/);
        break;
      }
      const delay = of(failed, 'timer').at(-1)!.at! - h.at();
      delays.push(delay);
      expect(of(h.tick(delay - 1), 'round-started'), 'not before the backoff ends').to.have.length(0);
      const next = of(h.tick(1), 'round-started');
      expect(next.map((s) => s.round)).to.deep.equal([failure + 1]);
      starts.push(h.at());
    }
    expect(delays).to.deep.equal([1000, 2000, 3000]);
    const snap = h.o.snapshot();
    expect(snap).to.include({ status: 'paused', consecutiveFailures: 4, lastRound: 4 });
    expect(snap.statusReason).to.match(/4 consecutive failed rounds/);
    // Nothing starts while paused, however long we wait.
    expect(of(h.tick(60_000), 'round-started')).to.have.length(0);
    // The operator resumes: the failure count and the reason are cleared and a round starts at once.
    const resumed = h.send({ type: 'resume' });
    expect(of(resumed, 'round-started').map((s) => s.round)).to.deep.equal([5]);
    expect(h.o.snapshot()).to.include({ status: 'running', consecutiveFailures: 0, statusReason: undefined });
  });

  it('a committed round resets the failure count', () => {
    const h = harness();
    h.send({ type: 'start' });
    h.send({ type: 'client-online', clientId: 'a' });
    h.send({ type: 'client-online', clientId: 'b' });
    const up = (from: string, round: number) => h.send({ type: 'agg-message', from, round, aggType: 'plain/update', payload: { update: Float32Array.from([1, 1]), weight: 1 } });
    up('a', 1);
    h.send({ type: 'fit-failed', from: 'b', round: 1, reason: 'boom' });
    h.tick(1000);
    for (const id of ['a', 'b']) up(id, 2);
    h.send({ type: 'committed', round: 2, modelHash: '1'.repeat(64) });
    expect(h.o.snapshot().consecutiveFailures).to.equal(0);
    up('a', 3);
    const failed = h.send({ type: 'fit-failed', from: 'b', round: 3, reason: 'boom' });
    expect(of(failed, 'timer').at(-1)!.at! - h.at(), 'back to the first step of the backoff').to.equal(1000);
  });

  it('a quorum that cannot be met reads "waiting for N clients, M online", logged once per change', () => {
    expect(quorumWait({ status: 'running', busy: false, online: 2, needed: 8, roundsLeft: true })!.message).to.equal('waiting for 8 clients, 2 online');
    expect(quorumWait({ status: 'paused', busy: false, online: 2, needed: 8, roundsLeft: true })).to.equal(undefined);
    expect(quorumWait({ status: 'running', busy: false, online: 8, needed: 8, roundsLeft: true })).to.equal(undefined);
    const h = harness({ minClients: 8 }, 8);
    h.send({ type: 'client-online', clientId: 'a' });
    const logs = of(h.send({ type: 'start' }), 'log');
    expect(logs.map((l) => l.msg)).to.deep.equal(['waiting for 8 clients, 1 online']);
    expect(of(h.tick(5), 'log'), 'not repeated while nothing changes').to.have.length(0);
    expect(of(h.send({ type: 'client-online', clientId: 'b' }), 'log').map((l) => l.msg)).to.deep.equal(['waiting for 8 clients, 2 online']);
    expect(h.o.snapshot().waiting).to.deep.equal({ needed: 8, online: 2, message: 'waiting for 8 clients, 2 online' });
  });
});
