import { DEFAULT_YIELD_EVERY } from '../../shared/aggregation/mean.js';
import { PlainServerSession } from '../../shared/aggregation/plain-session.js';
import type { ServerAggregationSession } from '../../shared/aggregation/seam.js';
import { FedProfileError } from '../../shared/errors.js';
import { SecAggServerSession } from '../../shared/secagg/server.js';

export interface ServerAggregatorArgs {
  federationId: string;
  round: number;
  participants: readonly string[];
  minResults: number;
  targetResults: number;
  vectorLength: number;
  maxWeight?: number;
  /** Per-update value and norm limits (plain aggregation checks them before summing). */
  bounds?: { maxAbs: number; maxL2Norm: number };
  /** Enrolled Ed25519 identity public keys of the participants (SecAgg+ verifies signatures with them). */
  identityKeys: ReadonlyMap<string, Uint8Array>;
  /** The federation's `secureAggregation` options, passed through untouched. */
  options?: Record<string, unknown>;
}

export type ServerAggregatorFactory = (args: ServerAggregatorArgs) => ServerAggregationSession;

/** Aggregators by kind: the only place that knows which session class serves which kind. */
const factories = new Map<string, ServerAggregatorFactory>([
  ['plain', (a) => new PlainServerSession({
    vectorLength: a.vectorLength, minResults: a.minResults, targetResults: a.targetResults, maxWeight: a.maxWeight, bounds: a.bounds,
    // Sum in the background so a 10M-parameter update does not hold the socket server (and its heartbeats).
    yieldEvery: DEFAULT_YIELD_EVERY,
  })],
  ['secagg', (a) => new SecAggServerSession({
    params: { ...a.options, federationId: a.federationId, round: a.round, dimension: a.vectorLength },
    identities: a.identityKeys,
  })],
]);

/** Replaces or adds an aggregator kind (e.g. an experimental one). */
export function registerServerAggregator(kind: 'plain' | 'secagg', factory: ServerAggregatorFactory): void {
  factories.set(kind, factory);
}

/** The factory currently serving a kind (so a test can swap one in and put the original back). */
export function serverAggregatorFactory(kind: 'plain' | 'secagg'): ServerAggregatorFactory | undefined {
  return factories.get(kind);
}

export function createServerAggregator(kind: 'plain' | 'secagg', args: ServerAggregatorArgs): ServerAggregationSession {
  const f = factories.get(kind);
  if (!f) throw new FedProfileError('BAD_CONFIG', `aggregator "${kind}" is not available in this build`);
  return f(args);
}
