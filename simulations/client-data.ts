import type { BehaviourEvent } from '../shared/data/events.js';
import { buildExamples } from '../shared/data/examples.js';
import { createHasher, itemCollisions, type CollisionReport } from '../shared/data/hashing.js';
import { NO_ITEM } from '../shared/data/sequence.js';
import { ConfigError } from '../shared/errors.js';
import type { SimulationConfig } from './config.js';
import type { SimulationData } from './data-source.js';
import type { ClientShard } from './partition/index.js';
import type { ClientData } from './pool/protocol.js';

export interface ClientDataSet {
  clients: Record<string, ClientData>;
  /** Client ids in a fixed order (the partition's). */
  clientIds: string[];
  /** Latent interest category ids by userKey, when the data has a ground truth. */
  interestTruth?: Record<string, number[]>;
  report: {
    train: number;
    validation: number;
    test: number;
    /** Clients whose users gave no training example (too few events after the time split). */
    clientsWithoutTrainingData: string[];
    usersWithoutTest: number;
    /** Where tier labels came from: all 'default' means the data has no prices and tier cannot be measured. */
    tierSources: Record<string, number>;
    /** How the data's distinct items map onto model item ids. */
    itemIds: CollisionReport & { mode: 'hashed' | 'catalogue' };
  };
}

/** Every distinct item id in the experiment's data, sorted. */
export function dataItems(data: SimulationData): string[] {
  const items = new Set<string>();
  for (const events of data.units.values()) for (const e of events) if (e.itemId !== NO_ITEM) items.add(e.itemId);
  return [...items].sort();
}

/**
 * Builds every virtual client's examples with the client SDK's own pipeline (keyed hashing, time split,
 * label windows). All clients share one hashing key, as a federation's merchants do, so their item ids align.
 */
export function buildClientData(cfg: SimulationConfig, data: SimulationData, shards: readonly ClientShard[]): ClientDataSet {
  const m = cfg.model;
  const items = dataItems(data);
  const catalogue = cfg.examples.itemIds === 'catalogue';
  const hasher = createHasher({
    key: `fedprofile-simulation-${cfg.seed}`, itemVocab: m.itemVocab, categoryVocab: m.categoryVocab, textVocab: m.textVocab,
    ...(data.knownCategories ? { knownCategories: data.knownCategories } : {}),
    ...(catalogue ? { knownItems: items } : {}),
  });
  const loo = cfg.examples.protocol === 'leave-one-out';
  const clients: Record<string, ClientData> = {};
  const clientIds: string[] = [];
  const without: string[] = [];
  const report = {
    train: 0, validation: 0, test: 0, clientsWithoutTrainingData: without, usersWithoutTest: 0,
    tierSources: {} as Record<string, number>,
    itemIds: { mode: cfg.examples.itemIds, ...itemCollisions(hasher, items) },
  };
  for (const shard of shards) {
    const events = new Map<string, BehaviourEvent[]>();
    for (const id of shard.unitIds) events.set(id, data.units.get(id)!);
    const sets = buildExamples(events, hasher, m, {
      protocol: cfg.examples.protocol,
      // Leave-one-out examples carry one label item, so prefixes step back far enough to reach older events:
      // a full window for causal models (every position already trains), half a window otherwise.
      ...(loo ? { prefixStride: m.causal ? m.maxLen : Math.max(1, Math.floor(m.maxLen / 2)) } : {}),
      split: { testFraction: cfg.examples.testFraction, validationFraction: cfg.examples.validationFraction },
      slidingPrefixes: cfg.examples.slidingPrefixes, maxPrefixesPerUser: cfg.examples.maxPrefixesPerUser,
    });
    report.usersWithoutTest += sets.report.usersWithoutTest;
    for (const [k, v] of Object.entries(sets.report.tierSources)) report.tierSources[k] = (report.tierSources[k] ?? 0) + v;
    if (sets.train.length === 0) { without.push(shard.clientId); continue; }
    clients[shard.clientId] = { train: sets.train, validation: sets.validation, test: sets.test };
    clientIds.push(shard.clientId);
    report.train += sets.train.length;
    report.validation += sets.validation.length;
    report.test += sets.test.length;
  }
  if (without.length > 0 && cfg.emptyClient === 'reject') {
    throw new ConfigError(
      `partition: ${without.length} of ${shards.length} clients have no training example after the time split (e.g. ${without.slice(0, 3).join(', ')}); lower "clients", raise the data per user, or set "emptyClient": "skip"`,
      { field: 'emptyClient', clients: without },
    );
  }
  if (clientIds.length === 0) {
    throw new ConfigError('data: no client has a training example; users need more events (examples.minEvents) or the split fractions are too large', { field: 'data' });
  }
  let interestTruth: Record<string, number[]> | undefined;
  if (data.truthInterests) {
    interestTruth = {};
    for (const [unit, cats] of data.truthInterests) interestTruth[hasher.userKey(unit)] = [...new Set(cats.map((c) => hasher.category(c)))];
  }
  return { clients, clientIds, ...(interestTruth ? { interestTruth } : {}), report };
}
