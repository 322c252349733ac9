/**
 * The Aggregator seam: how the round runtime turns the updates of a round's participants into one weighted
 * mean, without knowing whether it is plain FedAvg or SecAgg+. Both sides are pure, message-driven state
 * machines: messages in, messages out. Transports (socket.io, in-memory simulation) only deliver them.
 * Payloads may carry Uint8Array / Float32Array; transports are responsible for chunking large ones.
 */
export interface Outbound {
  /** Recipient: a client id on the server side, the literal 'server' on the client side. */
  to: string;
  /** Message type, namespaced by the aggregator, e.g. 'plain/update' or 'secagg/share-keys'. */
  type: string;
  payload: unknown;
}

export type AggregationOutcome =
  | { status: 'pending' }
  | {
      status: 'done';
      /** Weighted mean of the contributors' updates (weights = example counts, capped as configured). */
      mean: Float32Array;
      totalWeight: number;
      contributors: string[];
      /** Aggregator-specific numbers for the round record, e.g. clippedFraction, bitWidth, bytesIn. */
      metrics: Record<string, number>;
    }
  | { status: 'aborted'; reason: string };

export interface ServerAggregationSession {
  /** Current protocol stage, for logs and deadlines. */
  readonly stage: string;
  begin(participants: readonly string[]): Outbound[];
  /** Throws a FedProfileError (PROTOCOL/REPLAY/BAD_INPUT) for a bad message; the session stays usable. */
  handle(from: string, type: string, payload: unknown): Outbound[];
  /** A participant disconnected. */
  dropped(clientId: string): Outbound[];
  /** The current stage's deadline passed: proceed with whoever answered, or abort. */
  expire(): Outbound[];
  /**
   * A session that does vector-sized work in the background (so the event loop keeps serving sockets) is
   * 'pending' until that work is done. It then calls the `onSettled` callback it was built with, and its
   * driver feeds the round engine a 'session-settled' event: the outcome is pushed, never polled.
   */
  outcome(): AggregationOutcome;
  /** The round ended without this session's outcome (e.g. the operator stopped it): free what it holds. */
  close?(): void;
}

/** Called by a server session when background work changed its outcome (never from inside handle()). */
export type SessionSettledListener = () => void;

export interface ClientAggregationSession {
  /** Hand over this client's update (e.g. a weight delta) and its weight (example count). */
  submit(update: Float32Array, weight: number): Outbound[];
  /** Throws a FedProfileError for a bad message. */
  handle(type: string, payload: unknown): Outbound[];
  /** Optional: forget this round's secrets (zero-fill them); called when the round ends however it ends. */
  dispose?(): void;
}
