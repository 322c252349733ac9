import type { BehaviourEvent } from '../shared/data/events.js';
import { buildExamples } from '../shared/data/examples.js';
import { createHasher } from '../shared/data/hashing.js';
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
  };
}

/**
 * Builds every virtual client's examples with the client SDK's own pipeline (keyed hashing, time split,
 * label windows). All clients share one hashing key, as a federation's merchants do, so their item ids align.
 */
export function buildClientData(cfg: SimulationConfig, data: SimulationData, shards: readonly ClientShard[]): ClientDataSet {
  const m = cfg.model;
  const hasher = createHasher({
    key: `fedprofile-simulation-${cfg.seed}`, itemVocab: m.itemVocab, categoryVocab: m.categoryVocab, textVocab: m.textVocab,
    ...(data.knownCategories ? { knownCategories: data.knownCategories } : {}),
  });
  const clients: Record<string, ClientData> = {};
  const clientIds: string[] = [];
  const without: string[] = [];
  const report = { train: 0, validation: 0, test: 0, clientsWithoutTrainingData: without, usersWithoutTest: 0 };
  for (const shard of shards) {
    const events = new Map<string, BehaviourEvent[]>();
    for (const id of shard.unitIds) events.set(id, data.units.get(id)!);
    const sets = buildExamples(events, hasher, m, {
      split: { testFraction: cfg.examples.testFraction, validationFraction: cfg.examples.validationFraction },
      slidingPrefixes: cfg.examples.slidingPrefixes, maxPrefixesPerUser: cfg.examples.maxPrefixesPerUser,
    });
    report.usersWithoutTest += sets.report.usersWithoutTest;
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
