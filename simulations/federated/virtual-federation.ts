import { createHash } from 'node:crypto';
import { createClientAggregator, withClientTransforms, type ClientAggregatorArgs } from '../../client-sdk/aggregators.js';
import type { ClientAggregationSession, ServerAggregationSession } from '../../shared/aggregation/seam.js';
import type { Strategy } from '../../shared/aggregation/strategy.js';
import { FedProfileError } from '../../shared/errors.js';
import { encodeMessage } from '../../shared/protocol/codec.js';
import type { ClientMessage, ServerMessage } from '../../shared/protocol/messages.js';
import { RoundClientState, finiteOnly } from '../../shared/round/client.js';
import { RoundEngine } from '../../shared/round/engine.js';
import { aggregationPlan } from '../../shared/round/plan.js';
import { plannerFromStrategy } from '../../shared/round/planner.js';
import type { UpdateProtection } from '../../shared/round/update-protection.js';
import type { ExactPart } from '../../shared/compression/exact-part.js';
import { createServerAggregator, type ServerAggregatorArgs } from '../../shared/round/server-aggregators.js';
import type { RoundCommand, RoundEvent, RoundPlanner, RoundSummary } from '../../shared/round/types.js';
import { SecAggClientSession } from '../../shared/secagg/client.js';
import { generateIdentity, type IdentityKeyPair } from '../../shared/secagg/keys.js';
import type { EvaluateResult, FitConfig, FitResult } from '../../shared/training/types.js';
import { InterruptedError } from '../context.js';

/** A simulated client's local work: the client fit body run wherever the host likes (a worker pool, in-process). */
export interface VirtualClient {
  fit(global: Float32Array, config: FitConfig): Promise<FitResult & { seconds?: number }>;
  /** Federated evaluation; clients without it never answer (the evaluation deadline closes the stage). */
  evaluate?(global: Float32Array): Promise<EvaluateResult>;
  /** A misbehaving client skips the clipping and noise the fit instruction asks for (`params.privacy`). */
  ignoresPrivacy?: boolean;
}

/**
 * A dropout disconnects after sending `dropAfterMessages` aggregation messages of the round (then
 * reconnects for later rounds); a straggler stays connected and silent, so only the deadline removes it.
 */
export type Fault = 'dropout' | 'straggler';

export interface VirtualRound {
  round: number;
  /** Invited clients, in selection order. */
  participants: string[];
  contributors: string[];
  status: 'completed' | 'failed';
  reason?: string;
  /** Engine summary metrics (agg.*, train.*) and the strategy's server.* metrics. */
  metrics: Record<string, number>;
  totalWeight: number;
  /** The global model after this round (unchanged when it failed). */
  global: Float32Array;
  /** Aggregation-message bytes (real binary envelopes) up and down, and rejected messages. */
  bytesUp: number;
  bytesDown: number;
  rejected: number;
  deadlinesPassed: number;
  /** Wall seconds waiting for local training, and the clients' own training seconds summed. */
  trainSeconds: number;
  clientTrainSeconds: number;
  /** Wall seconds spent in the aggregation sessions and the server step. */
  aggregationSeconds: number;
}

/**
 * The vector a round aggregates when it is not the whole model (a PEFT slice): its length, the aggregation
 * params the round adds for it, the exact (float32) part of a compressed upload, and how its mean becomes
 * a whole-model delta for the server step.
 */
export interface RoundVector {
  length: number;
  /** The weights the clients train this round (the fit config's trainOnly); the rest stay frozen. */
  trainOnly?: readonly string[];
  params?: Record<string, unknown>;
  exactPart?: ExactPart | null;
  scatter(mean: Float32Array): Float32Array;
}

export interface VirtualFederationOptions {
  federationId: string;
  seed: number;
  /** Round attempts to run; a failed round counts as one. */
  rounds: number;
  strategy: Strategy;
  initial: Float32Array;
  /** Positions averaged exactly under any server optimiser: the federated statistics (ExactPart). */
  exactRanges?: ReadonlyArray<readonly [number, number]>;
  clients: ReadonlyMap<string, VirtualClient>;
  secureAggregation?: Record<string, unknown>;
  deadlines?: { trainMs: number; aggregationStageMs: number; evaluateMs: number };
  /** Each participant's fault for a round, asked in selection order when the round starts. */
  faultOf?: (round: number, clientId: string) => Fault | undefined;
  dropAfterMessages?: number;
  /** Simulations only: seeded SecAgg+ randomness (graph relabelling, client rounding) for reproducible runs. */
  graphRandomIndex?: (round: number) => ServerAggregatorArgs['graphRandomIndex'];
  roundingSeedOf?: (round: number, clientId: string) => Uint8Array;
  /**
   * DP, the robust rule and upload decoding around every round's server session, and the client-side
   * settings in every fit instruction: the coordinator's own UpdateProtection.
   */
  protection?: UpdateProtection;
  /** Simulations only: each client's seeded DP noise source for a round (default: the OS CSPRNG). */
  clientNoiseOf?: (round: number, clientId: string) => () => number;
  /** Selection policy in place of the strategy's (e.g. simulated Poisson sampling); default: the strategy. */
  planner?: RoundPlanner;
  /** The round's vector, asked once when the round is planned; undefined = the whole model. */
  roundVector?: (round: number) => RoundVector | undefined;
  /** Called after each round (committed or failed), before the next starts; may evaluate the new global model. */
  onRound?(r: VirtualRound): void | Promise<void>;
  signal?: AbortSignal;
}

/** Virtual deadlines: they cost no wall time, only order events. */
const VIRTUAL_DEADLINES = { trainMs: 600_000, aggregationStageMs: 60_000, evaluateMs: 60_000 };

type EventInput = RoundEvent extends infer E ? (E extends unknown ? Omit<E, 'now'> : never) : never;

interface Pending { clientId: string; round: number; work: Promise<{ kind: 'fit'; result: FitResult & { seconds?: number } } | { kind: 'evaluate'; result: EvaluateResult }> }

interface RoundTally {
  round: number; participants: string[]; faults: Map<string, Fault>; sent: Map<string, number>;
  bytesUp: number; bytesDown: number; rejected: number; deadlines: number; trainSeconds: number; clientTrainSeconds: number;
  aggregationMs: number; summary?: RoundSummary;
}

/**
 * The simulator's driver of the round engine: the same RoundEngine, strategy, aggregation sessions and
 * client round body as the coordinator, with a virtual clock and an in-memory message pump in place of
 * timers and sockets. Ordering is deterministic: messages are delivered first in, first out; local work of
 * one instant finishes together and its results are delivered in client-id order; the clock jumps to the
 * next deadline only when nothing else can happen.
 */
export class VirtualFederation {
  private readonly engine: RoundEngine;
  private readonly plan: ReturnType<typeof aggregationPlan>;
  private readonly identities = new Map<string, IdentityKeyPair>();
  private readonly clientStates = new Map<string, RoundClientState>();
  private readonly queue: Array<{ to: 'server'; from: string; message: ClientMessage } | { to: string; message: ServerMessage }> = [];
  private readonly pending: Pending[] = [];
  private now = 0;
  private timerAt: number | null = null;
  private global: Float32Array;
  private hash: string;
  private tally: RoundTally | undefined;
  /** Commits and round bookkeeping in flight; the engine moves on only after them. */
  private readonly busy = new Set<Promise<void>>();
  private finished = false;
  private failure: Error | undefined;
  /** A round failed at selection: nothing is pending, so the driver nudges the engine on. */
  private failedAtSelection = false;
  /** Why the engine paused the federation (e.g. the privacy budget), which ends the run early. */
  private pausedFor: string | undefined;
  /** One identity object per client: upload compressors (error feedback) are kept per owner across rounds. */
  private readonly owners = new Map<string, IdentityKeyPair>();
  /** Rounds that aggregate another vector than the whole model. */
  private readonly vectors = new Map<number, RoundVector>();

  constructor(private readonly opts: VirtualFederationOptions) {
    this.global = opts.initial;
    this.hash = hashOf(opts.initial);
    const dimension = opts.initial.length;
    const plan = aggregationPlan(opts.strategy.config, opts.secureAggregation, dimension);
    this.plan = opts.protection ? opts.protection.adjustPlan(plan) : plan;
    const ids = [...opts.clients.keys()].sort();
    for (const id of ids) {
      if (this.plan.kind === 'secagg') this.identities.set(id, generateIdentity());
      this.owners.set(id, this.identities.get(id) ?? { publicKey: new Uint8Array(32), secretKey: new Uint8Array(64) });
      this.clientStates.set(id, new RoundClientState({
        createSession: (m) => this.clientSession(id, m),
        send: (message) => this.fromClient(id, message),
      }));
    }
    this.engine = new RoundEngine(
      {
        federationId: opts.federationId, seed: opts.seed, rounds: opts.rounds, minClients: this.plan.quorum,
        deadlines: opts.deadlines ?? VIRTUAL_DEADLINES,
        aggregation: { kind: this.plan.kind, params: { ...this.plan.params, ...opts.protection?.clientParams() } },
      },
      this.withRoundVectors(opts.planner ?? plannerFromStrategy(opts.strategy)),
      (a) => this.serverSession(a),
      { status: 'created', completedRounds: 0, lastRound: 0, modelHash: this.hash },
    );
  }

  private withRoundVectors(base: RoundPlanner): RoundPlanner {
    const of = this.opts.roundVector;
    if (!of) return base;
    return {
      ...base,
      // Asked when the round is planned; a plan that does not start (too few clients) is asked again.
      configureFit: (round, available, rng) => {
        const v = of(round);
        if (v) this.vectors.set(round, v);
        else this.vectors.delete(round);
        const plan = base.configureFit(round, available, rng);
        return v?.trainOnly ? plan.map((p) => ({ ...p, config: { ...p.config, trainOnly: v.trainOnly } })) : plan;
      },
      roundAggregationParams: (round) => {
        const v = this.vectors.get(round);
        if (!v) return base.roundAggregationParams?.(round);
        const exact = v.exactPart !== undefined && this.opts.protection ? this.opts.protection.clientParams(v.exactPart) : {};
        return { ...base.roundAggregationParams?.(round), dimension: v.length, ...exact, ...v.params };
      },
    };
  }

  private vectorLength(round: number): number {
    return this.vectors.get(round)?.length ?? this.global.length;
  }

  /** Set when the engine paused the federation (then the run ended before `rounds`): the reason. */
  get stoppedBy(): string | undefined { return this.pausedFor; }

  /** Runs `rounds` round attempts (fewer if the engine pauses the federation) and returns the final global model. */
  async run(): Promise<Float32Array> {
    // Every client is connected before the federation starts, so round 1 selects from all of them.
    for (const id of this.clientStates.keys()) this.event({ type: 'client-online', clientId: id });
    this.event({ type: 'start' });
    while (!this.finished) {
      if (this.opts.signal?.aborted) throw new InterruptedError();
      // A round's bookkeeping (the caller's evaluation and log) completes before the next round moves on.
      if (this.busy.size > 0) { await Promise.all([...this.busy]); continue; }
      this.pump();
      if (this.failure) throw this.failure;
      if (this.finished) break;
      if (this.busy.size > 0) continue;
      if (this.pending.length > 0) { await this.finishLocalWork(); continue; }
      if (this.failedAtSelection) {
        this.failedAtSelection = false;
        this.event({ type: 'tick' });
        continue;
      }
      if (this.timerAt !== null) {
        this.now = Math.max(this.now, this.timerAt);
        if (this.tally) this.tally.deadlines++;
        this.event({ type: 'tick' });
        continue;
      }
      throw new FedProfileError('INTERNAL', `the round engine is idle in state ${JSON.stringify(this.engine.snapshot())} with nothing left to wait for`);
    }
    while (this.busy.size > 0) await Promise.all([...this.busy]);
    if (this.failure) throw this.failure;
    return this.global;
  }

  // ---- server side ----

  private serverSession(a: { round: number; participants: readonly string[]; minResults: number; targetResults: number }): ServerAggregationSession {
    const random = this.opts.graphRandomIndex?.(a.round);
    const args: ServerAggregatorArgs = {
      federationId: this.opts.federationId, round: a.round, participants: a.participants, minResults: a.minResults,
      targetResults: a.targetResults, vectorLength: this.vectorLength(a.round), maxWeight: this.plan.weightCap,
      options: { ...this.plan.params, dimension: this.vectorLength(a.round) },
      identityKeys: new Map(a.participants.map((p) => [p, this.identities.get(p)?.publicKey ?? new Uint8Array(32)])),
      ...(random ? { graphRandomIndex: random } : {}),
    };
    // Every client is online when a round is planned (dropouts reconnect at once): selection drew from all.
    const session = this.opts.protection
      ? this.opts.protection.createSession(this.plan.kind, args, this.opts.clients.size, ...(this.vectors.has(a.round) ? [this.vectors.get(a.round)!.exactPart] : []))
      : createServerAggregator(this.plan.kind, args);
    return this.timedSession(session);
  }

  /** Counts the wall time spent inside the server session (key agreement, summing, unmasking). */
  private timedSession(s: ServerAggregationSession): ServerAggregationSession {
    const timed = <T>(f: () => T): T => {
      const t0 = performance.now();
      try { return f(); } finally { if (this.tally) this.tally.aggregationMs += performance.now() - t0; }
    };
    return {
      get stage() { return s.stage; },
      begin: (p) => timed(() => s.begin(p)),
      handle: (from, type, payload) => timed(() => s.handle(from, type, payload)),
      dropped: (id) => timed(() => s.dropped(id)),
      expire: () => timed(() => s.expire()),
      outcome: () => s.outcome(),
    };
  }

  private event(ev: EventInput): void {
    const cmds = this.engine.handle({ ...ev, now: this.now } as RoundEvent);
    for (const c of cmds) this.execute(c);
  }

  private execute(c: RoundCommand): void {
    switch (c.type) {
      case 'send':
        this.queue.push({ to: c.to, message: c.message });
        if (this.tally && c.message.type === 'agg') this.tally.bytesDown += aggBytes(c.message.aggType, c.message.payload);
        break;
      case 'timer':
        this.timerAt = c.at;
        break;
      case 'round-started': {
        const faults = new Map<string, Fault>();
        for (const id of c.participants) {
          const f = this.opts.faultOf?.(c.round, id);
          if (f) faults.set(id, f);
        }
        this.tally = {
          round: c.round, participants: [...c.participants], faults, sent: new Map(), bytesUp: 0, bytesDown: 0, rejected: 0,
          deadlines: 0, trainSeconds: 0, clientTrainSeconds: 0, aggregationMs: 0,
        };
        break;
      }
      case 'commit':
        this.track(this.commitRound(c));
        break;
      case 'round-failed':
        if (!this.tally) {
          // Failed at selection: no round started, nobody was invited.
          this.failedAtSelection = true;
          this.tally = {
            round: c.round, participants: [], faults: new Map(), sent: new Map(), bytesUp: 0, bytesDown: 0, rejected: 0,
            deadlines: 0, trainSeconds: 0, clientTrainSeconds: 0, aggregationMs: 0,
          };
        }
        if (this.tally.round === c.round) this.endRound({ status: 'failed', reason: c.reason, contributors: [], metrics: {}, totalWeight: 0 });
        break;
      case 'round-evaluated':
        break;
      case 'reject':
        if (this.tally) this.tally.rejected++;
        break;
      case 'status':
        if (c.status === 'paused') {
          this.pausedFor = c.reason ?? 'paused';
          this.finished = true;
        }
        break;
      case 'log':
        break;
    }
  }

  /** The coordinator's commit without the disk: the strategy's server step on the mean, then 'committed'. */
  private async commitRound(c: Extract<RoundCommand, { type: 'commit' }>): Promise<void> {
    const { summary, outcome } = c;
    try {
      const t0 = performance.now();
      const vector = this.vectors.get(summary.round);
      this.vectors.delete(summary.round);
      const step = await this.opts.strategy.aggregateFit(summary.round, this.global, vector ? vector.scatter(outcome.mean) : outcome.mean, {
        contributors: outcome.contributors.length, totalWeight: outcome.totalWeight,
        failures: summary.participants.length - outcome.contributors.length,
      }, this.opts.exactRanges ? { exactRanges: this.opts.exactRanges } : {});
      if (this.tally) this.tally.aggregationMs += performance.now() - t0;
      this.global = step.weights;
      this.hash = hashOf(step.weights);
      const metrics: Record<string, number> = { ...summary.metrics };
      for (const [k, v] of Object.entries(step.metrics)) metrics[`server.${k}`] = v;
      for (const id of summary.participants) this.queue.push({ to: id, message: { type: 'round-end', round: summary.round, status: 'completed', modelHash: this.hash } });
      await this.endRound({ status: 'completed', contributors: outcome.contributors, metrics, totalWeight: outcome.totalWeight });
      this.event({ type: 'committed', round: summary.round, modelHash: this.hash });
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
    }
  }

  private endRound(r: Pick<VirtualRound, 'status' | 'contributors' | 'metrics' | 'totalWeight'> & { reason?: string }): Promise<void> {
    const t = this.tally!;
    this.tally = undefined;
    this.vectors.delete(t.round);
    const round: VirtualRound = {
      round: t.round, participants: t.participants, ...r, global: this.global,
      bytesUp: t.bytesUp, bytesDown: t.bytesDown, rejected: t.rejected, deadlinesPassed: t.deadlines,
      trainSeconds: t.trainSeconds, clientTrainSeconds: t.clientTrainSeconds, aggregationSeconds: t.aggregationMs / 1000,
    };
    if (t.round >= this.opts.rounds) this.finished = true;
    const done = this.opts.onRound?.(round);
    if (done instanceof Promise) {
      const p = done.catch((e: unknown) => { this.failure ??= e instanceof Error ? e : new Error(String(e)); });
      this.track(p);
      return p;
    }
    return Promise.resolve();
  }

  private track(p: Promise<void>): void {
    const q = p.finally(() => this.busy.delete(q));
    this.busy.add(q);
  }

  // ---- the in-memory message pump ----

  private pump(): void {
    while (this.queue.length > 0 && !this.failure) {
      const m = this.queue.shift()!;
      if (m.to === 'server') this.toServer((m as { from: string }).from, (m as { message: ClientMessage }).message);
      else this.toClient(m.to, (m as { message: ServerMessage }).message);
    }
  }

  private toServer(from: string, m: ClientMessage): void {
    switch (m.type) {
      case 'agg':
        this.event({ type: 'agg-message', from, round: m.round, aggType: m.aggType, payload: m.payload });
        break;
      case 'fit-meta':
        this.event({ type: 'fit-meta', from, round: m.round, numExamples: m.numExamples, metrics: m.metrics, trainMs: m.trainMs });
        break;
      case 'fit-failed':
        this.event({ type: 'fit-failed', from, round: m.round, reason: m.reason });
        break;
      case 'eval-result':
        this.event({ type: 'eval-result', from, round: m.round, numExamples: m.numExamples, metrics: m.metrics });
        break;
      case 'model-get':
        break;
    }
  }

  private toClient(id: string, m: ServerMessage): void {
    const state = this.clientStates.get(id);
    if (!state) throw new FedProfileError('PROTOCOL', `the engine addressed unknown client ${id}`);
    const t = this.tally;
    const round = 'round' in m ? m.round : undefined;
    const fault = t && round === t.round ? t.faults.get(id) : undefined;
    if (fault === 'straggler' && m.type !== 'round-end') return;
    switch (m.type) {
      case 'fit': {
        const r = state.beginFit(m);
        if (!r) return;
        if (fault === 'dropout' && (this.opts.dropAfterMessages ?? 0) === 0) { this.disconnect(id); return; }
        const client = this.opts.clients.get(id)!;
        if (m.modelHash !== this.hash) throw new FedProfileError('INTERNAL', `fit for model ${m.modelHash} but the global model is ${this.hash}`);
        // A dropout never delivers its update: it need not train, only take part in key agreement.
        const work = fault === 'dropout'
          ? Promise.resolve({ kind: 'fit' as const, result: { delta: new Float32Array(this.vectorLength(m.round)), numExamples: 1, metrics: {} } })
          : client.fit(this.global, m.config).then((result) => ({ kind: 'fit' as const, result }));
        this.pending.push({ clientId: id, round: m.round, work });
        break;
      }
      case 'agg':
        try {
          state.onAgg(m);
        } catch {
          // A client rejects a bad aggregation message and stays in the round, as FederatedClient does.
        }
        break;
      case 'evaluate': {
        const client = this.opts.clients.get(id)!;
        if (!client.evaluate) return;
        this.pending.push({ clientId: id, round: m.round, work: client.evaluate(this.global).then((result) => ({ kind: 'evaluate' as const, result })) });
        break;
      }
      case 'round-end':
        state.onRoundEnd(m);
        break;
      default:
        break;
    }
  }

  private fromClient(id: string, message: ClientMessage): void {
    const t = this.tally;
    if (message.type === 'agg' && t && message.round === t.round) {
      if (t.faults.get(id) === 'dropout') {
        const sent = t.sent.get(id) ?? 0;
        if (sent >= (this.opts.dropAfterMessages ?? 0)) { this.disconnect(id); return; }
        t.sent.set(id, sent + 1);
      }
      t.bytesUp += aggBytes(message.aggType, message.payload);
    }
    this.queue.push({ to: 'server', from: id, message });
  }

  /** The server sees the socket close (and the client reconnects, to be selectable in later rounds). */
  private disconnect(id: string): void {
    this.clientStates.get(id)!.leave('disconnected');
    this.event({ type: 'client-offline', clientId: id });
    this.event({ type: 'client-online', clientId: id });
  }

  /** Local work started at this instant finishes together; results go out in client-id order. */
  private async finishLocalWork(): Promise<void> {
    const batch = this.pending.splice(0).sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    const t0 = performance.now();
    const results = await Promise.all(batch.map((p) => p.work.then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e }))));
    if (this.tally) this.tally.trainSeconds += (performance.now() - t0) / 1000;
    batch.forEach((p, i) => {
      const res = results[i]!;
      const state = this.clientStates.get(p.clientId)!;
      if (!res.ok) {
        if (res.e instanceof InterruptedError) throw res.e;
        const cur = state.current;
        if (cur && cur.round === p.round) state.failFit(cur, res.e instanceof Error ? res.e.message : String(res.e));
        return;
      }
      if (res.r.kind === 'evaluate') {
        this.queue.push({ to: 'server', from: p.clientId, message: { type: 'eval-result', round: p.round, numExamples: res.r.result.numExamples, metrics: finiteOnly(res.r.result.metrics) } });
        return;
      }
      const cur = state.current;
      if (!cur || cur.round !== p.round) return;
      const seconds = res.r.result.seconds ?? 0;
      if (this.tally) this.tally.clientTrainSeconds += seconds;
      state.finishFit(cur, res.r.result, seconds * 1000);
    });
  }

  // ---- client side ----

  /** The real client's session factory and transforms (clipping, noise, upload encoding), seeded for simulations. */
  private clientSession(id: string, m: Extract<ServerMessage, { type: 'fit' }>): ClientAggregationSession {
    const roundingSeed = this.opts.roundingSeedOf?.(m.round, id);
    const normal = this.opts.clientNoiseOf?.(m.round, id);
    let params = m.aggregation.params;
    if (this.opts.clients.get(id)?.ignoresPrivacy) {
      const { privacy: _ignored, ...rest } = params;
      params = rest;
    }
    const args: ClientAggregatorArgs = {
      federationId: this.opts.federationId, clientId: id, round: m.round, params,
      identity: this.owners.get(id)!, vectorLength: this.vectorLength(m.round), ...(normal ? { normal } : {}),
    };
    if (m.aggregation.kind === 'secagg' && roundingSeed) {
      return withClientTransforms('secagg', args, (rest) => new SecAggClientSession({
        clientId: id, identity: this.identities.get(id)!, roundingSeed,
        params: { ...rest, federationId: this.opts.federationId, round: m.round, dimension: this.vectorLength(m.round) },
      }));
    }
    return createClientAggregator(m.aggregation.kind, args);
  }
}

function aggBytes(type: string, payload: unknown): number {
  return encodeMessage({ type, payload }).byteLength;
}

function hashOf(values: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
}
