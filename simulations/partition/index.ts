import { ConfigError } from '../../shared/errors.js';
import type { PartitionSpec } from '../config.js';
import { dirichletPartition, iidPartition, naturalPartition, perUserPartition, quantitySkewPartition } from './schemes.js';
import { partitionStats } from './stats.js';
import type { ClientShard, PartitionResult, PartitionUnit } from './types.js';

export type { ClientShard, PartitionResult, PartitionStats, PartitionUnit } from './types.js';

export interface PartitionOptions {
  spec: PartitionSpec;
  /** Required for iid / dirichlet / quantity-skew; a cap for natural and per-user. */
  clients?: number;
  seed: number;
  emptyClient: 'skip' | 'reject';
}

/**
 * Assigns every unit (user) to at most one client, deterministically for a seed and independent of the
 * input order. Clients left without data are skipped (and listed in stats.emptyClients) or rejected.
 */
export function partitionUnits(input: readonly PartitionUnit[], opts: PartitionOptions): PartitionResult {
  const units = [...input].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const need = (): number => {
    if (opts.clients === undefined) throw new ConfigError(`clients: required for partition.type "${opts.spec.type}"`, { field: 'clients' });
    return opts.clients;
  };
  const spec = opts.spec;
  let shards: ClientShard[];
  switch (spec.type) {
    case 'natural': shards = naturalPartition(units, opts.clients); break;
    case 'iid': shards = iidPartition(units, need(), opts.seed); break;
    case 'per-user': shards = perUserPartition(units, opts.clients, opts.seed); break;
    case 'quantity-skew': shards = quantitySkewPartition(units, need(), spec.sigma, opts.seed); break;
    case 'dirichlet': shards = dirichletPartition(units, need(), spec.alpha, opts.seed); break;
  }
  const empty = shards.filter((s) => s.unitIds.length === 0).map((s) => s.clientId);
  if (empty.length > 0 && opts.emptyClient === 'reject') {
    throw new ConfigError(
      `partition: ${empty.length} of ${shards.length} clients get no data (${units.length} users for ${shards.length} clients; e.g. ${empty.slice(0, 3).join(', ')}); lower "clients" or set "emptyClient": "skip"`,
      { field: 'clients', emptyClients: empty },
    );
  }
  const kept = shards.filter((s) => s.unitIds.length > 0);
  if (kept.length === 0) throw new ConfigError('partition: no client received any data; check the data source and examples.minEvents', { field: 'partition' });
  return { clients: kept, stats: partitionStats(spec.type, units, kept, empty) };
}

/** Summarises events grouped by unit id into what the partitioners look at. */
export function summariseUnits(
  groups: ReadonlyMap<string, readonly { categoryId: string; merchantId?: string }[]>,
): PartitionUnit[] {
  const out: PartitionUnit[] = [];
  for (const [id, events] of groups) {
    const categoryCounts: Record<string, number> = {};
    for (const e of events) categoryCounts[e.categoryId] = (categoryCounts[e.categoryId] ?? 0) + 1;
    const merchantId = events.find((e) => e.merchantId !== undefined)?.merchantId;
    out.push({ id, numEvents: events.length, categoryCounts, ...(merchantId !== undefined ? { merchantId } : {}) });
  }
  return out;
}
