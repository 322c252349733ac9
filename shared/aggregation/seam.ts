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
  outcome(): AggregationOutcome;
  /**
   * Optional, for sessions that do vector-sized work in the background so the event loop keeps serving
   * sockets (heartbeats included): resolves once no such work is left, i.e. outcome() reflects every input
   * so far. The runtime then hands the session a SESSION_SETTLED message so its caller re-reads outcome().
   */
  settled?(): Promise<void>;
}

/**
 * Sessions with settled() accept this message type from any participant as a no-op; it exists only so a
 * message-driven caller looks at outcome() again after background work finished.
 */
export const SESSION_SETTLED = 'session/settled';

export interface ClientAggregationSession {
  /** Hand over this client's update (e.g. a weight delta) and its weight (example count). */
  submit(update: Float32Array, weight: number): Outbound[];
  /** Throws a FedProfileError for a bad message. */
  handle(type: string, payload: unknown): Outbound[];
  /** Optional: forget this round's secrets (zero-fill them); called when the round ends however it ends. */
  dispose?(): void;
}
