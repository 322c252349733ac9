import type { RemoteAccumulator } from '../aggregation/vector-worker.js';
import { PlainServerSession } from '../aggregation/plain-session.js';
import type { ServerAggregationSession } from '../aggregation/seam.js';
import { FedProfileError } from '../errors.js';
import { SecAggServerSession, type SecAggServerOptions } from '../secagg/server.js';

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
  /** The federation's `secureAggregation` options with the plan's weight cap. */
  options?: Record<string, unknown>;
  /** Called when background work decided the outcome (see SessionSettledListener). */
  onSettled?: () => void;
  /** Plain only: sum in the background, yielding every this many elements; unset sums inline. */
  yieldEvery?: number;
  /** Plain only: sum on the aggregation worker (the coordinator); needs onSettled. */
  accumulator?: RemoteAccumulator;
  /** SecAgg+ only, simulations: a seeded graph relabelling source (see SecAggServerOptions). */
  graphRandomIndex?: SecAggServerOptions['graphRandomIndex'];
}

export type ServerAggregatorFactory = (args: ServerAggregatorArgs) => ServerAggregationSession;

/** Aggregators by kind: the only place that knows which session class serves which kind. */
const factories = new Map<string, ServerAggregatorFactory>([
  ['plain', (a) => new PlainServerSession({
    vectorLength: a.vectorLength, minResults: a.minResults, targetResults: a.targetResults, maxWeight: a.maxWeight, bounds: a.bounds,
    yieldEvery: a.yieldEvery, onSettled: a.onSettled, accumulator: a.accumulator,
  })],
  ['secagg', (a) => new SecAggServerSession({
    params: { ...a.options, federationId: a.federationId, round: a.round, dimension: a.vectorLength },
    identities: a.identityKeys,
    ...(a.graphRandomIndex ? { graphRandomIndex: a.graphRandomIndex } : {}),
    // With a settle listener (the coordinator), unmask on a worker so sockets and heartbeats keep flowing.
    ...(a.onSettled ? { unmaskInWorker: true, onSettled: a.onSettled } : {}),
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
