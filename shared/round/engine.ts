import { FedProfileError } from '../errors.js';
import type { ServerAggregationSession, Outbound } from '../aggregation/seam.js';
import { afterRoundFailure } from './backoff.js';
import { quorumWait, type QuorumWait } from './quorum-wait.js';
import { roundRng } from '../random.js';
import type {
  AggregatorFactory, FederationStatus, ResumePoint, RoundCommand, RoundEngineConfig, RoundEvent, RoundPlanner,
} from './types.js';

interface FitStage {
  kind: 'fit';
  round: number;
  participants: Set<string>;
  session: ServerAggregationSession;
  stage: string;
  deadline: number;
  startedAt: number;
  meta: Map<string, { numExamples: number; metrics: Record<string, number>; trainMs: number }>;
}
interface CommitStage { kind: 'commit'; round: number }
interface EvalStage {
  kind: 'evaluate';
  round: number;
  pending: Set<string>;
  results: Map<string, { numExamples: number; metrics: Record<string, number> }>;
  deadline: number;
}
type Active = FitStage | CommitStage | EvalStage;

/**
 * The one round engine: one federation's round lifecycle as a pure state machine, events in, commands out,
 * time only from the events. select → configure (fit) → train/collect (aggregator messages) → aggregate
 * (session outcome) → commit (the driver applies the strategy and checkpoints) → evaluate → next round.
 * The coordinator drives it with the wall clock and sockets (coordinator/runtime), the simulator with a
 * virtual clock and an in-memory transport (simulations/federated); neither has a round loop of its own.
 */
export class RoundEngine {
  private status: FederationStatus;
  private completedRounds: number;
  private lastRound: number;
  private modelHash: string;
  private readonly online = new Set<string>();
  private active: Active | undefined;
  private timerAt: number | null = null;
  /** Failed rounds since the last committed one, the earliest time the next may start, and why it paused. */
  private consecutiveFailures = 0;
  private retryAt = 0;
  private statusReason: string | undefined;
  private waitingLogged = '';

  constructor(
    private readonly cfg: RoundEngineConfig,
    private readonly planner: RoundPlanner,
    private readonly createAggregator: AggregatorFactory,
    resume: ResumePoint,
  ) {
    this.status = resume.status;
    this.completedRounds = resume.completedRounds;
    this.lastRound = resume.lastRound;
    this.modelHash = resume.modelHash;
  }

  snapshot(): {
    status: FederationStatus; completedRounds: number; lastRound: number; modelHash: string; stage: string; round?: number; online: number;
    waiting?: QuorumWait; retryAt?: number; consecutiveFailures: number; statusReason?: string;
  } {
    const a = this.active;
    return {
      status: this.status, completedRounds: this.completedRounds, lastRound: this.lastRound, modelHash: this.modelHash,
      stage: a ? (a.kind === 'fit' ? `fit:${a.session.stage}` : a.kind) : 'idle', round: a?.round, online: this.online.size,
      waiting: this.quorumWait(), retryAt: this.retryAt > 0 ? this.retryAt : undefined,
      consecutiveFailures: this.consecutiveFailures, statusReason: this.statusReason,
    };
  }

  private quorumWait(): QuorumWait | undefined {
    return quorumWait({
      status: this.status, busy: this.active !== undefined, online: this.online.size,
      needed: Math.max(this.cfg.minClients, 1, this.planner.minFitResults()), roundsLeft: this.completedRounds < this.cfg.rounds,
    });
  }

  handle(ev: RoundEvent): RoundCommand[] {
    const out: RoundCommand[] = [];
    switch (ev.type) {
      case 'start':
        if (this.status === 'created') this.setStatus('running', out);
        break;
      case 'resume':
        if (this.status === 'paused') {
          this.consecutiveFailures = 0;
          this.retryAt = 0;
          this.setStatus('running', out);
        }
        break;
      case 'pause':
        if (this.status === 'running') this.setStatus('paused', out);
        break;
      case 'stop':
        if (this.status !== 'stopped' && this.status !== 'completed') {
          if (this.active?.kind === 'fit') this.failRound(this.active, 'federation stopped by the operator', ev.now, out);
          else if (this.active?.kind === 'evaluate') this.active = undefined;
          this.setStatus('stopped', out);
        }
        break;
      case 'client-online':
        this.online.add(ev.clientId);
        break;
      case 'client-offline':
        this.online.delete(ev.clientId);
        this.onDisconnect(ev.clientId, ev.now, out);
        break;
      case 'tick':
        this.onTick(ev.now, out);
        break;
      case 'agg-message':
        this.onAggMessage(ev, out);
        break;
      case 'session-settled': {
        const a = this.active;
        if (a?.kind === 'fit' && a.round === ev.round) this.afterSessionStep(a, ev.now, out);
        break;
      }
      case 'fit-meta': {
        const a = this.fitStageFor(ev.from, ev.round, out, 'fit-meta');
        if (a) a.meta.set(ev.from, { numExamples: ev.numExamples, metrics: ev.metrics, trainMs: ev.trainMs });
        break;
      }
      case 'fit-failed': {
        const a = this.fitStageFor(ev.from, ev.round, out, 'fit-failed');
        if (a) {
          out.push({ type: 'log', level: 'warn', msg: 'client failed local training', data: { clientId: ev.from, round: ev.round, reason: ev.reason } });
          this.relay(a, a.session.dropped(ev.from), out);
          this.afterSessionStep(a, ev.now, out);
        }
        break;
      }
      case 'eval-result': {
        const a = this.active;
        if (a?.kind !== 'evaluate' || a.round !== ev.round || !a.pending.has(ev.from)) {
          this.reject(ev.from, 'DEADLINE', 'late', `evaluation result for round ${ev.round} is late or was not requested`, out);
          break;
        }
        a.pending.delete(ev.from);
        a.results.set(ev.from, { numExamples: ev.numExamples, metrics: ev.metrics });
        if (a.pending.size === 0) this.finishEvaluation(a, ev.now, out);
        break;
      }
      case 'committed': {
        if (this.active?.kind !== 'commit' || this.active.round !== ev.round) break;
        this.completedRounds++;
        this.modelHash = ev.modelHash;
        this.active = undefined;
        this.consecutiveFailures = 0;
        if (this.completedRounds >= this.cfg.rounds) this.setStatus('completed', out);
        this.beginEvaluation(ev.round, ev.now, out);
        break;
      }
      case 'commit-failed': {
        if (this.active?.kind !== 'commit' || this.active.round !== ev.round) break;
        out.push({ type: 'round-failed', round: ev.round, reason: `commit failed: ${ev.reason}`, at: ev.now });
        this.active = undefined;
        this.afterFailure(`commit failed: ${ev.reason}`, ev.now, out);
        break;
      }
    }
    this.maybeStartRound(ev.now, out);
    this.logQuorumWait(out);
    this.syncTimer(out);
    return out;
  }

  // ---- stages ----

  private maybeStartRound(now: number, out: RoundCommand[]): void {
    if (this.status !== 'running' || this.active || this.completedRounds >= this.cfg.rounds) return;
    if (now < this.retryAt) return;
    this.retryAt = 0;
    if (this.online.size < Math.max(this.cfg.minClients, 1)) return;
    const round = this.lastRound + 1;
    const available = [...this.online].sort();
    const plan = this.planner.configureFit(round, available, roundRng(this.cfg.seed, round, 'fit'))
      .filter((p) => this.online.has(p.clientId));
    const participants = plan.map((p) => p.clientId);
    const minResults = this.planner.minFitResults();
    if (participants.length < minResults) {
      if (!this.planner.shortSelectionFails) return;
      // The draw is the round (Poisson sampling): too few sampled is a failed round, not a wait for clients.
      this.lastRound = round;
      const reason = `selection drew ${participants.length} client(s), fewer than the quorum of ${minResults}`;
      out.push({ type: 'round-failed', round, reason, at: now });
      this.afterFailure(reason, now, out);
      return;
    }
    const targetResults = Math.min(Math.max(this.planner.targetFitResults(), minResults), participants.length);
    let session: ServerAggregationSession;
    try {
      session = this.createAggregator({ round, participants, minResults, targetResults });
    } catch (e) {
      // Nothing has changed yet: pause rather than fail again at every later event, and say why.
      const reason = e instanceof Error ? e.message : String(e);
      out.push({ type: 'log', level: 'warn', msg: `round ${round} cannot start; federation paused: ${reason}`, data: { round } });
      this.setStatus('paused', out, `round ${round} cannot start: ${reason}`);
      return;
    }
    this.lastRound = round;
    const a: FitStage = {
      kind: 'fit', round, participants: new Set(participants), session, stage: session.stage,
      deadline: now + this.cfg.deadlines.trainMs, startedAt: now, meta: new Map(),
    };
    this.active = a;
    out.push({ type: 'round-started', round, participants, at: now });
    const extra = this.planner.roundAggregationParams?.(round);
    const aggregation = extra ? { kind: this.cfg.aggregation.kind, params: { ...this.cfg.aggregation.params, ...extra } } : this.cfg.aggregation;
    for (const { clientId, config } of plan) {
      out.push({
        type: 'send', to: clientId,
        message: { type: 'fit', round, modelHash: this.modelHash, config: { ...config, round }, aggregation, deadline: a.deadline },
      });
    }
    this.relay(a, session.begin(participants), out);
    a.stage = session.stage;
    this.afterSessionStep(a, now, out);
  }

  private onAggMessage(ev: Extract<RoundEvent, { type: 'agg-message' }>, out: RoundCommand[]): void {
    const a = this.fitStageFor(ev.from, ev.round, out, ev.aggType);
    if (!a) return;
    let replies: Outbound[];
    try {
      replies = a.session.handle(ev.from, ev.aggType, ev.payload);
    } catch (e) {
      const err = e instanceof FedProfileError ? e : new FedProfileError('INTERNAL', String(e));
      this.reject(ev.from, err.code, err.code === 'DEADLINE' ? 'late' : err.code.toLowerCase(), err.message, out);
      return;
    }
    this.relay(a, replies, out);
    this.afterSessionStep(a, ev.now, out);
  }

  private onDisconnect(clientId: string, now: number, out: RoundCommand[]): void {
    const a = this.active;
    if (a?.kind === 'fit' && a.participants.has(clientId)) {
      out.push({ type: 'log', level: 'warn', msg: 'participant disconnected; dropped from this round', data: { clientId, round: a.round } });
      this.relay(a, a.session.dropped(clientId), out);
      this.afterSessionStep(a, now, out);
    } else if (a?.kind === 'evaluate' && a.pending.delete(clientId) && a.pending.size === 0) {
      this.finishEvaluation(a, now, out);
    }
  }

  private onTick(now: number, out: RoundCommand[]): void {
    const a = this.active;
    if (a?.kind === 'fit' && now >= a.deadline) {
      const stageBefore = a.session.stage;
      out.push({ type: 'log', level: 'warn', msg: 'stage deadline passed', data: { round: a.round, stage: stageBefore } });
      this.relay(a, a.session.expire(), out);
      if (a.session.outcome().status === 'pending' && a.session.stage === stageBefore) {
        this.failRound(a, `stage "${stageBefore}" made no progress by its deadline`, now, out);
        return;
      }
      this.afterSessionStep(a, now, out);
    } else if (a?.kind === 'evaluate' && now >= a.deadline) {
      this.finishEvaluation(a, now, out);
    }
  }

  /** After any session input: relay is done; check the outcome and move deadlines on stage changes. */
  private afterSessionStep(a: FitStage, now: number, out: RoundCommand[]): void {
    if (this.active !== a) return;
    const o = a.session.outcome();
    if (o.status === 'aborted') { this.failRound(a, o.reason, now, out); return; }
    if (o.status === 'done') {
      const metrics: Record<string, number> = { ...prefixed(o.metrics, 'agg.') };
      let metaWeight = 0;
      let metaCount = 0;
      const sums: Record<string, number> = {};
      const plainSums: Record<string, number> = {};
      let maxTrainMs = 0;
      for (const id of o.contributors) {
        const m = a.meta.get(id);
        if (!m) continue;
        maxTrainMs = Math.max(maxTrainMs, m.trainMs);
        metaWeight += m.numExamples;
        metaCount++;
        for (const [k, v] of Object.entries(m.metrics)) {
          sums[k] = (sums[k] ?? 0) + v * m.numExamples;
          plainSums[k] = (plainSums[k] ?? 0) + v;
        }
      }
      // With secure aggregation clients send no example count (0): their metrics are averaged unweighted.
      if (metaWeight > 0) for (const [k, v] of Object.entries(sums)) metrics[`train.${k}`] = v / metaWeight;
      else if (metaCount > 0) for (const [k, v] of Object.entries(plainSums)) metrics[`train.${k}`] = v / metaCount;
      metrics.maxTrainMs = maxTrainMs;
      this.active = { kind: 'commit', round: a.round };
      out.push({
        type: 'commit', outcome: o,
        summary: {
          round: a.round, participants: [...a.participants], contributors: [...o.contributors], totalWeight: o.totalWeight,
          metrics, startedAt: a.startedAt, aggregatedAt: now,
        },
      });
      return;
    }
    if (a.session.stage !== a.stage) {
      a.stage = a.session.stage;
      // Stages reached while clients may still be training share the training deadline.
      a.deadline = Math.max(a.startedAt + this.cfg.deadlines.trainMs, now + this.cfg.deadlines.aggregationStageMs);
    }
  }

  private failRound(a: FitStage, reason: string, now: number, out: RoundCommand[]): void {
    a.session.close?.();
    out.push({ type: 'round-failed', round: a.round, reason, at: now });
    for (const id of a.participants) {
      if (this.online.has(id)) out.push({ type: 'send', to: id, message: { type: 'round-end', round: a.round, status: 'failed', reason } });
    }
    this.active = undefined;
    this.afterFailure(reason, now, out);
  }

  /** Backs off before the next round, or pauses the federation once failures keep coming (see backoff.ts). */
  private afterFailure(reason: string, now: number, out: RoundCommand[]): void {
    const policy = this.cfg.failurePolicy;
    if (!policy || this.status !== 'running') return;
    this.consecutiveFailures++;
    const d = afterRoundFailure(policy, this.consecutiveFailures, now, reason);
    if (d.kind === 'pause') {
      this.setStatus('paused', out, d.reason);
      out.push({ type: 'log', level: 'warn', msg: d.reason, data: { consecutiveFailures: this.consecutiveFailures } });
      return;
    }
    this.retryAt = d.retryAt;
    out.push({ type: 'log', level: 'warn', msg: `next round in ${d.delayMs} ms after ${this.consecutiveFailures} consecutive failed round(s)`, data: { retryAt: d.retryAt } });
  }

  /** Logs "waiting for N clients, M online" once per change, so a stalled federation explains itself. */
  private logQuorumWait(out: RoundCommand[]): void {
    const w = this.quorumWait();
    const key = w?.message ?? '';
    if (key === this.waitingLogged) return;
    this.waitingLogged = key;
    if (w) out.push({ type: 'log', level: 'warn', msg: w.message, data: { needed: w.needed, online: w.online } });
  }

  private beginEvaluation(round: number, now: number, out: RoundCommand[]): void {
    const chosen = this.planner.configureEvaluate(round, [...this.online].sort(), roundRng(this.cfg.seed, round, 'evaluate'))
      .filter((id) => this.online.has(id));
    if (chosen.length === 0) return;
    const a: EvalStage = { kind: 'evaluate', round, pending: new Set(chosen), results: new Map(), deadline: now + this.cfg.deadlines.evaluateMs };
    this.active = a;
    for (const id of chosen) out.push({ type: 'send', to: id, message: { type: 'evaluate', round, modelHash: this.modelHash, deadline: a.deadline } });
  }

  private finishEvaluation(a: EvalStage, now: number, out: RoundCommand[]): void {
    const results = [...a.results].map(([clientId, r]) => ({ clientId, ...r }));
    const metrics = results.length ? this.planner.aggregateEvaluate(a.round, results) : {};
    out.push({ type: 'round-evaluated', round: a.round, metrics, clients: results.length, at: now });
    this.active = undefined;
  }

  // ---- helpers ----

  private fitStageFor(from: string, round: number, out: RoundCommand[], what: string): FitStage | undefined {
    const a = this.active;
    if (a?.kind !== 'fit' || a.round !== round) {
      this.reject(from, 'DEADLINE', 'late', `${what} for round ${round} arrived after that round closed`, out);
      return undefined;
    }
    if (!a.participants.has(from)) {
      this.reject(from, 'FORBIDDEN', 'not-selected', `${what}: client is not a participant of round ${round}`, out);
      return undefined;
    }
    return a;
  }

  private relay(a: FitStage, msgs: Outbound[], out: RoundCommand[]): void {
    for (const m of msgs) out.push({ type: 'send', to: m.to, message: { type: 'agg', round: a.round, aggType: m.type, payload: m.payload } });
  }

  private reject(clientId: string, code: string, reason: string, message: string, out: RoundCommand[]): void {
    out.push({ type: 'reject', clientId, code, reason, message });
  }

  private setStatus(s: FederationStatus, out: RoundCommand[], reason?: string): void {
    this.status = s;
    this.statusReason = reason;
    out.push({ type: 'status', status: s, ...(reason ? { reason } : {}) });
  }

  private syncTimer(out: RoundCommand[]): void {
    const a = this.active;
    const backingOff = !a && this.status === 'running' && this.retryAt > 0;
    const at = a && a.kind !== 'commit' ? a.deadline : backingOff ? this.retryAt : null;
    if (at !== this.timerAt) {
      this.timerAt = at;
      out.push({ type: 'timer', at });
    }
  }
}

function prefixed(m: Record<string, number>, p: string): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [p + k, v]));
}
