import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { ModelConfigSchema, PROFILE_SMALL, type ModelConfig } from '../shared/model/config.js';
import { RobustAggregationSchema } from '../shared/aggregation/robust/config.js';
import { DpConfigSchema, distributedNoiseStd } from '../shared/privacy/dp-fedavg.js';
import { PEFT_METHODS } from '../shared/peft/bitfit.js';

/**
 * The experiment file of `fedprofile simulate`. Every object is strict, so a misspelt key is an error
 * rather than a silently ignored setting; every number has a range, so a typo cannot start a week-long run.
 */

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const rate = z.number().min(0).max(1);

const SyntheticDataSchema = z.strictObject({
  source: z.literal('synthetic'),
  users: int(2, 1_000_000).default(600),
  merchants: int(1, 10_000).default(20),
  categories: int(2, 1_000).default(16),
  itemsPerCategory: int(1, 100_000).default(60),
  /** Length of the simulated period; with sessionsPerWeek it sets how many events a user has. */
  days: z.number().positive().max(3650).default(30),
  sessionsPerWeek: z.number().positive().max(100).default(2),
  viewsPerSession: z.number().positive().max(100).default(6),
  /** Dirichlet concentration of each merchant's category mix (smaller = more skewed merchants). */
  merchantAlpha: z.number().positive().max(1e6).default(0.5),
  /** Concentration of a user's interests around their merchant's mix (smaller = more focused users). */
  userConcentration: z.number().positive().max(1e6).default(1.5),
  /** Seed of the generated world; defaults to the experiment seed. */
  seed: int(0, 2 ** 31 - 1).optional(),
});

const pathField = z.string().min(1, 'must be a non-empty path');

const DataSchema = z.discriminatedUnion('source', [
  SyntheticDataSchema,
  z.strictObject({ source: z.literal('movielens'), path: pathField }),
  z.strictObject({ source: z.literal('events'), path: pathField, format: z.enum(['jsonl', 'csv']).optional() }),
  z.strictObject({ source: z.literal('retailrocket'), path: pathField }),
  z.strictObject({ source: z.literal('taobao'), path: pathField }),
]);

/**
 * `dirichlet` follows Hsu et al. 2019 ("Measuring the effects of non-identical data distribution"):
 * each client c draws category proportions q_c ~ Dir(alpha * p), p being the global category prior, and is
 * then filled one user at a time with users of a category drawn from q_c. A user's category is the one most
 * of their events belong to. Small alpha: each client is dominated by a few categories; alpha -> infinity: iid.
 */
const PartitionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('natural') }),
  z.strictObject({ type: z.literal('iid') }),
  z.strictObject({ type: z.literal('dirichlet'), alpha: z.number().positive().max(1e6) }),
  /** Client sizes proportional to LogNormal(0, sigma) draws; every client still gets at least one user. */
  z.strictObject({ type: z.literal('quantity-skew'), sigma: z.number().min(0).max(5).default(1) }),
  z.strictObject({ type: z.literal('per-user') }),
]);

const modelShape = ModelConfigSchema.shape;
type ModelShape = typeof modelShape;
const ModelOverridesSchema = z.strictObject(
  Object.fromEntries(Object.entries(modelShape).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof ModelShape]: z.ZodOptional<ModelShape[K]>;
  },
);

const lr = z.number().positive().max(10);
const StrategySchema = z.discriminatedUnion('name', [
  /** Pooled training; `epochsPerRound` defaults to training.localEpochs (pooled data converges in fewer). */
  /**
   * Pooled training can take a larger batch and its own learning rate: one pooled model with the clients'
   * small-batch settings is noisier than an average of many client models, and would understate the bound.
   */
  z.strictObject({
    name: z.literal('centralized'), epochsPerRound: int(1, 1_000).optional(),
    batchSize: int(1, 65_536).optional(), learningRate: z.number().positive().max(10).optional(),
  }),
  /** Each client alone; `epochs` of fine-tuning default to training.rounds x training.localEpochs. */
  z.strictObject({ name: z.literal('local'), epochs: int(1, 100_000).optional() }),
  z.strictObject({ name: z.literal('fedavg') }),
  z.strictObject({ name: z.literal('fedprox'), mu: z.number().min(0).max(100).default(0.01) }),
  z.strictObject({
    name: z.literal('fedavgm'),
    serverLearningRate: lr.default(1),
    serverMomentum: z.number().min(0).max(0.999).default(0.9),
  }),
  z.strictObject({
    name: z.literal('fedadam'),
    serverLearningRate: lr.default(0.01),
    beta1: z.number().min(0).max(0.999).default(0.9),
    beta2: z.number().min(0).max(0.9999).default(0.99),
    tau: z.number().positive().max(1).default(1e-3),
  }),
  /** FedYogi: FedAdam with Yogi's additive second-moment update (steadier when client updates are sparse). */
  z.strictObject({
    name: z.literal('fedyogi'),
    serverLearningRate: lr.default(0.01),
    beta1: z.number().min(0).max(0.999).default(0.9),
    beta2: z.number().min(0).max(0.9999).default(0.99),
    tau: z.number().positive().max(1).default(1e-3),
  }),
]);
export type StrategySpec = z.infer<typeof StrategySchema>;
export type StrategyName = StrategySpec['name'];

const TrainingSchema = z.strictObject({
  /** Masked-behaviour (Cloze) pre-training rounds, run before the fine-tuning rounds. */
  pretrainRounds: int(0, 10_000).default(0),
  /** Fine-tuning rounds (profile heads + Cloze auxiliary). */
  rounds: int(1, 10_000).default(10),
  /** Clients sampled per round; defaults to all clients. */
  clientsPerRound: int(1, 1_000_000).optional(),
  localEpochs: int(1, 1_000).default(1),
  batchSize: int(1, 4_096).default(32),
  learningRate: lr.default(1e-3),
  pretrainLearningRate: lr.optional(),
  optimizer: z.enum(['adam', 'sgd']).default('adam'),
  /** Cap on examples a client trains on per round; also the SecAgg+ maximum weight. */
  maxExamplesPerClient: int(1, 10_000_000).default(10_000),
  /** Round-engine settings shared with the coordinator's strategy (see StrategyConfigSchema). */
  overSelection: z.number().min(1).max(10).default(1),
  /** Quorum: fewest results a round may aggregate. */
  minFitClients: int(1, 1_000_000).default(1),
  /** Federated evaluation every N rounds on the selected clients' test users (0 = off; the pooled test set is always scored). */
  evaluateEvery: int(0, 10_000).default(0),
  /** Clients keep their best local epoch by validation loss (the strategy setting of the same name). */
  selectByValidation: z.boolean().default(false),
  /** Train next-item prediction (MASK appended to each history) beside the Cloze task. */
  nextItemObjective: z.boolean().default(false),
  /** Causal models (model.causal): share of earlier positions that predict their successor per step. */
  causalTargetShare: z.number().gt(0).max(1).default(1),
});

const SecureAggregationSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Neighbours k per client in the SecAgg+ graph; by default derived from n and the dropout rate (O(log n)). */
  neighbors: int(2, 254).optional(),
  /** Shares needed to unmask (t > k/2); by default the smallest such t. */
  threshold: int(2, 254).optional(),
  /** Each coordinate of an update is clipped to [-clip, clip] before fixed-point encoding. */
  clip: z.number().positive().max(1e6).default(1),
});

const StragglersSchema = z.strictObject({
  /** Fraction of a round's participants that answer after the deadline and are left out. */
  rate: rate.default(0),
});

/** Poisoned clients, for robustness experiments: a fixed, seeded subset that send a manipulated update. */
const AttackSchema = z.strictObject({
  /** Fraction of the clients that attack (every round they take part in). */
  fraction: z.number().gt(0).max(0.5),
  /** sign-flip: send −scale × the honest update; scale: send scale × the honest update. */
  kind: z.enum(['sign-flip', 'scale']),
  scale: z.number().positive().max(1e6).default(10),
});

/** Wire encodings: the model clients download, and (plain mode) the updates they upload. */
const CompressionSchema = z.strictObject({
  download: z.enum(['f32', 'f16', 'q8']).default('f32'),
  upload: z.enum(['f32', 'f16', 'q8', 'topk']).default('f32'),
  /** topk: fraction of each update's values sent. */
  topkFraction: z.number().gt(0).max(1).default(0.01),
  /** Carry what compression dropped into the next round (default on for q8 and topk). */
  errorFeedback: z.boolean().optional(),
});

const ExamplesSchema = z.strictObject({
  /** Users with fewer events are dropped (and counted) before partitioning. */
  minEvents: int(2, 100_000).default(5),
  /** Longer histories keep their most recent events only. */
  maxEventsPerUser: int(2, 1_000_000).default(200),
  validationFraction: z.number().min(0).max(0.5).default(0.1),
  testFraction: z.number().gt(0).max(0.5).default(0.2),
  /** Extra training examples from earlier cut points of each user's history (more, shorter examples). */
  slidingPrefixes: z.boolean().default(true),
  maxPrefixesPerUser: int(1, 1_000).default(8),
  /**
   * time-window: the last testFraction / validationFraction of each user's events are held out.
   * leave-one-out: the last item is the test target, the one before it validation (SASRec / BERT4Rec).
   */
  protocol: z.enum(['time-window', 'leave-one-out']).default('time-window'),
  /** Leave each user's history items out of the next-item ranking; default on for leave-one-out. */
  excludeHistory: z.boolean().optional(),
  /** Sampled negatives drawn by training popularity instead of uniformly; default on for leave-one-out. */
  popularityNegatives: z.boolean().optional(),
  /**
   * hashed: item ids are keyed hashes into model.itemVocab (collisions counted and reported).
   * catalogue: the items of the data form the federation's shared catalogue and get collision-free ids
   * (model.itemVocab must then exceed the number of items + 1).
   */
  itemIds: z.enum(['hashed', 'catalogue']).default('hashed'),
  /** With itemIds "catalogue": size model.itemVocab to the catalogue (items + 2 reserved ids, rounded up to 64). */
  fitItemVocab: z.boolean().default(false),
});

export const SimulationConfigSchema = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    description: z.string().max(5_000).optional(),
    seed: int(0, 2 ** 31 - 1).default(42),
    data: DataSchema,
    examples: ExamplesSchema.default(ExamplesSchema.parse({})),
    partition: PartitionSchema,
    /** Number of clients; required for iid / dirichlet / quantity-skew. For natural it keeps the largest
     * merchants, for per-user it samples that many users. */
    clients: int(1, 1_000_000).optional(),
    emptyClient: z.enum(['skip', 'reject']).default('skip'),
    model: ModelOverridesSchema.default({}),
    strategies: z.array(StrategySchema).min(1, 'list at least one strategy'),
    training: TrainingSchema.default(TrainingSchema.parse({})),
    secureAggregation: SecureAggregationSchema.default(SecureAggregationSchema.parse({})),
    /** Fraction of a round's participants that disconnect after being selected. */
    dropout: z.number().min(0).max(0.9).default(0),
    stragglers: StragglersSchema.default(StragglersSchema.parse({})),
    dp: DpConfigSchema.optional(),
    /** Plain-mode aggregation rule (median, trimmed mean, multi-Krum, norm bounding); default the weighted mean. */
    robustAggregation: RobustAggregationSchema.optional(),
    attack: AttackSchema.optional(),
    compression: CompressionSchema.optional(),
    /** Parameter-efficient fine-tuning: fine-tuning rounds train and federate only this subset (encoder frozen). */
    peft: z.strictObject({ method: z.enum(PEFT_METHODS) }).optional(),
    /** Cap on worker threads; defaults to one per core. */
    workers: int(1, 256).optional(),
  })
  .superRefine((c, ctx) => {
    const needsCount = c.partition.type === 'iid' || c.partition.type === 'dirichlet' || c.partition.type === 'quantity-skew';
    if (needsCount && c.clients === undefined) {
      ctx.addIssue({ code: 'custom', path: ['clients'], message: `required for partition.type "${c.partition.type}" (an integer >= 1)` });
    }
    const names = c.strategies.map((s) => s.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['strategies'], message: `strategy "${dup}" is listed twice` });
    const sa = c.secureAggregation;
    if (sa.neighbors !== undefined && sa.threshold !== undefined && 2 * sa.threshold <= sa.neighbors) {
      ctx.addIssue({ code: 'custom', path: ['secureAggregation', 'threshold'], message: `must be > neighbors / 2 (${sa.neighbors / 2}), got ${sa.threshold}` });
    }
    checkPrivacyAndRobustness(c, ctx);
    checkPeftModel(c, ctx);
  });

/**
 * A PEFT method must find its weights in the model: LoRA needs model.loraRank, adapters model.adapterSize.
 * Caught here, by field, rather than when the first fine-tuning round cuts an empty slice.
 */
function checkPeftModel(c: { peft?: { method: string } | undefined; model: { loraRank?: number | undefined; adapterSize?: number | undefined } }, ctx: z.RefinementCtx): void {
  const method = c.peft?.method;
  if (method === undefined) return;
  const needs = method.startsWith('lora') ? 'loraRank' : method.startsWith('adapter') ? 'adapterSize' : undefined;
  if (needs !== undefined && !((c.model[needs] ?? 0) > 0)) {
    ctx.addIssue({ code: 'custom', path: ['peft', 'method'], message: `"${method}" trains ${needs === 'loraRank' ? 'LoRA factors' : 'bottleneck adapters'}, which this model does not have: set model.${needs} to an integer >= 1 (e.g. 4)` });
  }
}

type RefineInput = {
  secureAggregation: { enabled: boolean; clip: number };
  dp?: z.output<typeof DpConfigSchema> | undefined;
  robustAggregation?: z.output<typeof RobustAggregationSchema> | undefined;
  compression?: z.output<typeof CompressionSchema> | undefined;
  clients?: number | undefined;
  dropout: number;
  stragglers: { rate: number };
  training: { clientsPerRound?: number | undefined };
};

/** Combinations that cannot work, named by field: robust rules and upload codecs need plain mode, etc. */
function checkPrivacyAndRobustness(c: RefineInput, ctx: z.RefinementCtx): void {
  const secagg = c.secureAggregation.enabled;
  const rule = c.robustAggregation?.rule;
  if (secagg && rule !== undefined && rule !== 'mean' && rule !== 'norm-bound') {
    ctx.addIssue({ code: 'custom', path: ['robustAggregation', 'rule'], message: `"${rule}" needs every individual update, which SecAgg hides; with secureAggregation.enabled only "norm-bound" (client-side clipping) applies` });
  }
  const perRound = c.training.clientsPerRound ?? c.clients;
  if (c.robustAggregation?.rule === 'multi-krum' && perRound !== undefined && perRound <= 2 * c.robustAggregation.byzantine + 2) {
    ctx.addIssue({ code: 'custom', path: ['robustAggregation', 'byzantine'], message: `multi-Krum with f = ${c.robustAggregation.byzantine} needs more than ${2 * c.robustAggregation.byzantine + 2} clients per round, got ${perRound}` });
  }
  if (secagg && c.compression && c.compression.upload !== 'f32') {
    ctx.addIssue({ code: 'custom', path: ['compression', 'upload'], message: 'applies to plain mode only: SecAgg uploads its own fixed-point encoding; set it to "f32"' });
  }
  const dp = c.dp;
  if (!dp?.enabled) return;
  if (rule !== undefined && rule !== 'mean') {
    ctx.addIssue({ code: 'custom', path: ['robustAggregation', 'rule'], message: `the DP-FedAvg accountant assumes the mean of clipped updates; "${rule}" is not covered (use "mean" with dp.enabled)` });
  }
  if (dp.mode === 'distributed' && !secagg) {
    ctx.addIssue({ code: 'custom', path: ['dp', 'mode'], message: '"distributed" noise only hides updates under secure aggregation; enable secureAggregation or use "central"' });
  }
  const mode = dp.mode ?? (secagg ? 'distributed' : 'central');
  if (secagg && mode === 'distributed' && perRound !== undefined) {
    // The SecAgg coordinate clip must leave each client's noise share intact (clipping it would change the mechanism).
    const planned = dp.plannedContributors ?? Math.max(1, Math.floor(perRound * (1 - c.dropout - c.stragglers.rate) + 1e-9));
    const std = distributedNoiseStd(dp.clipNorm, dp.noiseMultiplier, planned);
    if (c.secureAggregation.clip < 4 * std) {
      ctx.addIssue({ code: 'custom', path: ['secureAggregation', 'clip'], message: `must be >= 4 x the per-client DP noise std (${(4 * std).toPrecision(3)} for clipNorm ${dp.clipNorm}, noiseMultiplier ${dp.noiseMultiplier}, ${planned} planned contributors) so the noise survives coordinate clipping, got ${c.secureAggregation.clip}` });
    }
  }
}

export type SimulationConfigInput = z.input<typeof SimulationConfigSchema>;
type ParsedConfig = z.infer<typeof SimulationConfigSchema>;
export type SimulationConfig = Omit<ParsedConfig, 'model'> & { model: ModelConfig };
export type DataSpec = SimulationConfig['data'];
export type PartitionSpec = SimulationConfig['partition'];

export interface ConfigOverrides {
  seed?: number;
  /** Replaces data.path (for file sources); resolved against the working directory. */
  dataPath?: string;
}

/** "training.rounds" / "strategies[2].mu" / "(root)". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

const DISCRIMINATOR_VALUES: Record<string, string> = {
  source: '"synthetic", "movielens", "events", "retailrocket", "taobao"',
  type: '"natural", "iid", "dirichlet", "quantity-skew", "per-user"',
  name: '"centralized", "local", "fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi"',
  rule: '"mean", "median", "trimmed-mean", "multi-krum", "norm-bound"',
};

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const at = issue.path.length ? `${where}: ` : '';
    return `${at}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  const got = valueAt(input, issue.path);
  let msg = issue.message;
  if (issue.code === 'too_big') msg = `must be ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
  if (issue.code === 'too_small') {
    msg = issue.origin === 'array' || issue.origin === 'string'
      ? `must have at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'entry' : 'character'}${Number(issue.minimum) === 1 ? '' : 's'}`
      : `must be ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
  }
  if (issue.code === 'invalid_value') msg = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator) {
    const allowed = DISCRIMINATOR_VALUES[String(issue.discriminator)];
    msg = `unknown or missing "${String(issue.discriminator)}"${allowed ? `; expected one of ${allowed}` : ''}`;
  }
  if (issue.code === 'invalid_type' && got === undefined) msg = `is required (${issue.expected})`;
  const shown = got !== undefined && issue.code !== 'custom' ? ` (got ${JSON.stringify(got)})` : '';
  return `${where}: ${msg}${shown}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return typeof v === 'object' && v !== null ? undefined : v;
}

/** Validates a parsed JSON value; throws one ConfigError listing every problem with its field path. */
export function parseSimulationConfig(input: unknown, source = 'config'): SimulationConfig {
  const r = SimulationConfigSchema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => describeIssue(i, input));
    throw new ConfigError(`${source}: ${problems.join('; ')}`, { problems, fields: r.error.issues.map((i) => formatPath(i.path)) });
  }
  const model = ModelConfigSchema.safeParse({ ...PROFILE_SMALL, ...r.data.model });
  if (!model.success) {
    const problems = model.error.issues.map((i) => describeIssue({ ...i, path: ['model', ...i.path] }, input));
    throw new ConfigError(`${source}: ${problems.join('; ')}`, { problems, fields: problems.map((p) => p.split(':')[0]) });
  }
  const data = r.data.data;
  if (data.source === 'synthetic' && data.categories + 1 > model.data.categoryVocab) {
    throw new ConfigError(`${source}: model.categoryVocab: must be > data.categories (${data.categories}) so every category gets its own id (got ${model.data.categoryVocab})`, { field: 'model.categoryVocab' });
  }
  return { ...r.data, model: model.data };
}

/** Reads, validates and applies command-line overrides; relative data paths resolve against the file. */
export function loadSimulationConfig(file: string, overrides: ConfigOverrides = {}): SimulationConfig {
  if (!existsSync(file)) throw new ConfigError(`--config: file not found: ${file}`, { field: 'config', file });
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`, { file });
  }
  const cfg = parseSimulationConfig(json, file);
  return applyOverrides(cfg, overrides, dirname(resolve(file)));
}

export function applyOverrides(cfg: SimulationConfig, o: ConfigOverrides, baseDir = process.cwd()): SimulationConfig {
  let data = cfg.data;
  if (o.dataPath !== undefined) {
    if (data.source === 'synthetic') {
      throw new ConfigError('--data-path: data.source is "synthetic", which reads no files', { field: 'data.path' });
    }
    data = { ...data, path: resolve(o.dataPath) };
  } else if (data.source !== 'synthetic' && data.path.includes('${')) {
    throw new ConfigError(`data.path: "${data.path}" is a placeholder; pass the real location with --data-path`, { field: 'data.path' });
  } else if (data.source !== 'synthetic' && !isAbsolute(data.path)) {
    data = { ...data, path: resolve(baseDir, data.path) };
  }
  const out: SimulationConfig = { ...cfg, data, seed: o.seed ?? cfg.seed };
  checkDataPaths(out.data);
  return out;
}

/** The files a data source needs exist, so a run fails in its first second instead of after setup. */
export function checkDataPaths(data: DataSpec): void {
  if (data.source === 'synthetic') return;
  if (!existsSync(data.path)) {
    throw new ConfigError(`data.path: not found: ${data.path}`, { field: 'data.path', file: data.path });
  }
  if (data.source === 'movielens') {
    if (!statSync(data.path).isDirectory()) {
      throw new ConfigError(`data.path: a MovieLens source is a folder holding ratings.csv and movies.csv, got a file: ${data.path}`, { field: 'data.path' });
    }
    for (const f of ['ratings.csv', 'movies.csv']) {
      const p = join(data.path, f);
      if (!existsSync(p)) throw new ConfigError(`data.path: MovieLens folder ${data.path} has no ${f}`, { field: 'data.path', file: p });
    }
  } else if (data.source === 'events' && statSync(data.path).isDirectory()) {
    throw new ConfigError(`data.path: expected a file for source "${data.source}", got a folder: ${data.path}`, { field: 'data.path' });
  }
}
