import { seededUniform } from '../../shared/random.js';
import { simulationGraphIndex, simulationRoundingSeed } from './simulation-seeds.js';
import { PlainClientSession, PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { RobustServerSession } from '../../shared/aggregation/robust/session.js';
import type { AggregationOutcome, ClientAggregationSession } from '../../shared/aggregation/seam.js';
import { runSecAggInMemory, type DropPoint } from '../../shared/secagg/index.js';
import type { SimulationConfig } from '../config.js';
import { runAggregationInMemory } from './privacy-transport.js';

export interface RoundAggregationInput {
  cfg: SimulationConfig;
  strategy: string;
  round: number;
  /** Every invited client, in selection order. */
  participants: readonly string[];
  updates: ReadonlyMap<string, { update: Float32Array; weight: number }>;
  dropped: ReadonlySet<string>;
  stragglers: ReadonlySet<string>;
  dimension: number;
  maxWeight: number;
}

export interface RoundAggregation {
  outcome: AggregationOutcome;
  bytesUp: number;
  bytesDown: number;
  /** Seconds inside the aggregation sessions (SecAgg+: key agreement, masking, unmasking). */
  seconds: number;
  metrics: Record<string, number>;
}

/**
 * One round's aggregation through the real seam implementations. Plain: the participants' updates go
 * through PlainServerSession. SecAgg+: the full four-stage protocol with real crypto; a dropout disappears
 * after sharing its keys (so its pairwise masks must be recovered from its neighbours' shares), a straggler
 * never advertises keys and is left out at the first deadline.
 */
export function aggregateRound(a: RoundAggregationInput): RoundAggregation {
  if (!a.cfg.secureAggregation.enabled) {
    const rule = a.cfg.robustAggregation;
    const server = rule && rule.rule !== 'mean'
      ? new RobustServerSession({ vectorLength: a.dimension, minResults: 1, maxWeight: a.maxWeight, rule })
      : new PlainServerSession({ vectorLength: a.dimension, minResults: 1, maxWeight: a.maxWeight });
    const clients = new Map<string, ClientAggregationSession>(a.participants.map((id) => [id, new PlainClientSession()]));
    const r = runAggregationInMemory({
      server, clients, updates: a.updates,
      dropAfter: new Map([...a.dropped].map((id) => [id, 0])),
      stragglers: a.stragglers,
    });
    return { outcome: r.outcome, bytesUp: r.bytesUp, bytesDown: r.bytesDown, seconds: r.sessionSeconds, metrics: { deadlines: r.deadlines } };
  }
  const sa = a.cfg.secureAggregation;
  const dropAt: Record<string, DropPoint> = {};
  for (const id of a.dropped) dropAt[id] = 'after-share-keys';
  for (const id of a.stragglers) dropAt[id] = 'before-advertise';
  const zero = new Float32Array(a.dimension);
  const ids = [...a.participants];
  const r = runSecAggInMemory({
    clientIds: ids,
    // Dropouts are asked for their update before they vanish; it is never sent, so any vector will do.
    updates: (i) => a.updates.get(ids[i]!)?.update ?? zero,
    weights: ids.map((id) => a.updates.get(id)?.weight ?? 1),
    params: {
      federationId: `simulation-${a.cfg.seed}-${a.strategy}`, round: a.round, dimension: a.dimension, clip: sa.clip,
      maxWeight: a.maxWeight, expectedDropout: Math.min(0.45, a.cfg.dropout + a.cfg.stragglers.rate),
      ...(sa.neighbors !== undefined ? { neighbors: sa.neighbors } : {}),
      ...(sa.threshold !== undefined ? { threshold: sa.threshold } : {}),
    },
    dropAt,
    roundingSeedOf: (id) => simulationRoundingSeed(a.cfg.seed, a.strategy, a.round, id),
    graphRandomIndex: simulationGraphIndex(a.cfg.seed, a.strategy, a.round),
  });
  const sum = (m: Map<string, number>) => [...m.values()].reduce((s, x) => s + x, 0);
  const clientMs = sum(r.clientMs);
  const metrics: Record<string, number> = {
    secaggServerSeconds: r.serverMs / 1000, secaggClientSeconds: clientMs / 1000,
    neighbors: r.server.graphParams.neighbors, threshold: r.server.graphParams.threshold, rejectedMessages: r.rejected.length,
  };
  if (r.outcome.status === 'done') Object.assign(metrics, r.outcome.metrics);
  return { outcome: r.outcome, bytesUp: sum(r.bytesUp), bytesDown: sum(r.bytesDown), seconds: (r.serverMs + clientMs) / 1000, metrics };
}
