import type { ClientAggregationSession, Outbound } from '../aggregation/seam.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import type { FitResult } from '../training/types.js';

type FitMessage = Extract<ServerMessage, { type: 'fit' }>;

/** One round this client was selected for; `abandoned` once the round ended or the client left it. */
export interface ClientRound {
  readonly round: number;
  readonly config: FitMessage['config'];
  readonly modelHash: string;
  readonly session: ClientAggregationSession;
  /** Secure aggregation: the example count is the weight the masked vector hides, so it is not sent in clear. */
  readonly secure: boolean;
  abandoned: boolean;
}

/**
 * The client side of a round, at the message level: the one body behind FederatedClient (real sockets, a
 * training worker) and the simulator's virtual clients (in-memory transport, a worker pool). Training
 * itself happens between beginFit and finishFit, however the host runs it.
 */
export class RoundClientState {
  private active: ClientRound | undefined;

  constructor(private readonly deps: {
    /** The round's client aggregation session for a fit instruction (throws if this client cannot take part). */
    createSession(fit: FitMessage): ClientAggregationSession;
    send(message: ClientMessage): void;
    onLeave?(round: number, reason: string): void;
  }) {}

  get current(): ClientRound | undefined { return this.active; }

  /** A fit instruction: leaves any older round and opens this one, or answers fit-failed. */
  beginFit(m: FitMessage): ClientRound | undefined {
    this.leave('a new round started');
    let session: ClientAggregationSession;
    try {
      session = this.deps.createSession(m);
    } catch (e) {
      this.deps.send({ type: 'fit-failed', round: m.round, reason: (e as Error).message.slice(0, 1000) });
      return undefined;
    }
    this.active = { round: m.round, config: m.config, modelHash: m.modelHash, session, secure: m.aggregation.kind === 'secagg', abandoned: false };
    return this.active;
  }

  /** Local training finished: metadata first, then whatever the aggregator sends for the update. */
  finishFit(r: ClientRound, result: FitResult, trainMs: number): boolean {
    if (r.abandoned) return false;
    this.deps.send({ type: 'fit-meta', round: r.round, numExamples: r.secure ? 0 : result.numExamples, metrics: finiteOnly(result.metrics), trainMs });
    this.relay(r.round, r.session.submit(result.delta, result.numExamples));
    return true;
  }

  failFit(r: ClientRound, reason: string): void {
    if (!r.abandoned) this.deps.send({ type: 'fit-failed', round: r.round, reason: reason.slice(0, 1000) });
  }

  /** An aggregation message; false when it is for a round this client is not in. Throws for a bad message. */
  onAgg(m: Extract<ServerMessage, { type: 'agg' }>): boolean {
    const a = this.active;
    if (!a || a.round !== m.round || a.abandoned) return false;
    this.relay(m.round, a.session.handle(m.aggType, m.payload));
    return true;
  }

  /** The round is over either way: a straggler's result would only be rejected as late. */
  onRoundEnd(m: Extract<ServerMessage, { type: 'round-end' }>): void {
    if (this.active?.round === m.round) {
      this.active.abandoned = true;
      this.active.session.dispose?.();
      this.active = undefined;
    }
  }

  leave(reason: string): void {
    if (!this.active) return;
    this.deps.onLeave?.(this.active.round, reason);
    this.active.abandoned = true;
    this.active.session.dispose?.();
    this.active = undefined;
  }

  private relay(round: number, msgs: Outbound[]): void {
    for (const o of msgs) this.deps.send({ type: 'agg', round, aggType: o.type, payload: o.payload });
  }
}

export function finiteOnly(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => Number.isFinite(v)).slice(0, 64));
}
