import type { BehaviourEvent } from '../shared/data/events.js';
import { cleanEventStream, type CleanReport } from '../shared/data/clean.js';
import { buildExamples, type BuildExamplesReport, type EvaluationProtocol } from '../shared/data/examples.js';
import { createHasher, itemCollisions, type CollisionReport } from '../shared/data/hashing.js';
import { NO_ITEM } from '../shared/data/sequence.js';
import { readEvents, type EventSource, type ReadReport } from '../shared/data/readers/index.js';
import { ConfigError } from '../shared/errors.js';
import type { ModelConfig } from '../shared/model/config.js';
import type { BackendChoice } from '../shared/tf/backend.js';
import { createWorkerTrainer, type WorkerTrainer } from '../shared/training/worker-trainer.js';

/** Where a client's private behaviour events come from: a file/folder in any supported format, events, or a callback. */
export type DataSource =
  | string
  | EventSource
  | AsyncIterable<BehaviourEvent>
  | Iterable<BehaviourEvent>
  | (() => AsyncIterable<BehaviourEvent> | Iterable<BehaviourEvent> | Promise<AsyncIterable<BehaviourEvent> | Iterable<BehaviourEvent>>);

export interface DataSourceTrainerOptions {
  dataSource: DataSource;
  /**
   * Federation-wide hashing secret shared by the merchants and never given to the coordinator, so every
   * merchant maps the same item to the same embedding row while the coordinator cannot invert the ids.
   */
  hashKey: string;
  knownCategories?: readonly string[];
  /** The federation's shared item catalogue: listed items get collision-free ids (see createHasher). */
  knownItems?: readonly string[];
  backend?: BackendChoice;
  seed?: number;
  /** Keep at most this many of each user's most recent events. */
  maxEventsPerUser?: number;
  /**
   * How held-out examples are made for federated evaluation: time-window (default) or leave-one-out (the
   * last item is the target, ranked with the user's history excluded and against popularity negatives).
   */
  evaluationProtocol?: EvaluationProtocol;
}

export interface DataSourceReport {
  read?: ReadReport;
  clean: CleanReport;
  examples: BuildExamplesReport;
  /** How this merchant's distinct items map onto model ids: collisions merge items in one embedding row. */
  itemIds: CollisionReport;
}

async function* toAsync(src: AsyncIterable<BehaviourEvent> | Iterable<BehaviourEvent>): AsyncGenerator<BehaviourEvent> {
  for await (const e of src as AsyncIterable<BehaviourEvent>) yield e;
}

/** Reads, cleans and encodes the local events (everything stays in this process), then starts the worker trainer. */
export async function createDataSourceTrainer(modelConfig: ModelConfig, opts: DataSourceTrainerOptions): Promise<WorkerTrainer & { dataReport: DataSourceReport }> {
  if (!opts.hashKey || opts.hashKey.length < 8) {
    throw new ConfigError('a hash key of at least 8 characters is required (the federation-wide secret shared by merchants)');
  }
  const src = opts.dataSource;
  let events: AsyncIterable<BehaviourEvent>;
  let stream: ReturnType<typeof readEvents> | undefined;
  if (typeof src === 'string') events = stream = readEvents({ path: src });
  else if (typeof src === 'function') events = toAsync(await src());
  else if ('path' in src && typeof (src as EventSource).path === 'string' && !(Symbol.asyncIterator in src) && !(Symbol.iterator in src)) events = stream = readEvents(src as EventSource);
  else events = toAsync(src as AsyncIterable<BehaviourEvent> | Iterable<BehaviourEvent>);
  const cleaned = await cleanEventStream(events, { maxEvents: opts.maxEventsPerUser });
  const hasher = createHasher({
    key: opts.hashKey, itemVocab: modelConfig.itemVocab, categoryVocab: modelConfig.categoryVocab,
    textVocab: modelConfig.textVocab, knownCategories: opts.knownCategories, knownItems: opts.knownItems,
  });
  const localItems = new Set<string>();
  for (const events of cleaned.users.values()) for (const e of events) if (e.itemId !== NO_ITEM) localItems.add(e.itemId);
  const itemIds = itemCollisions(hasher, localItems);
  // Earlier cut points of long histories are extra training examples: many merchants have few users.
  const loo = opts.evaluationProtocol === 'leave-one-out';
  const ex = buildExamples(cleaned.users, hasher, modelConfig, {
    slidingPrefixes: true, maxPrefixesPerUser: 2, ...(loo ? { protocol: 'leave-one-out' as const, prefixStride: modelConfig.maxLen } : {}),
  });
  if (ex.train.length === 0) {
    throw new ConfigError(`the data source gave no training examples (${cleaned.report.outputUsers} users, ${cleaned.report.outputEvents} events); users need at least 3 events`);
  }
  const trainer = createWorkerTrainer({
    modelConfig, examples: { train: ex.train, validation: ex.validation, test: ex.test }, backend: opts.backend, seed: opts.seed ?? 0,
    ...(loo ? { training: { evaluation: { excludeHistory: true, popularityNegatives: true } } } : {}),
  });
  await trainer.ready;
  return Object.assign(trainer, { dataReport: { read: stream?.report(), clean: cleaned.report, examples: ex.report, itemIds } });
}
