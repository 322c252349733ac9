import { cleanEventStream, cleanEvents } from '../shared/data/clean.js';
import type { BehaviourEvent } from '../shared/data/events.js';
import { buildExamples, type EvaluationProtocol } from '../shared/data/examples.js';
import { createHasher, type Hasher } from '../shared/data/hashing.js';
import { readEvents } from '../shared/data/readers/index.js';
import { ConfigError, FedProfileError } from '../shared/errors.js';
import type { ModelConfig } from '../shared/model/config.js';
import { loadFlatWeights } from '../shared/model/init.js';
import { profileUsers, type ProfileContext, type UserProfile } from '../shared/model/profile.js';
import { ProfileModel } from '../shared/model/profile-model.js';
import { initBackend, type BackendChoice } from '../shared/tf/backend.js';
import { evaluateBaselines, evaluateNamedBaselines, itemPopularity, type NamedBaselines } from '../shared/training/baselines.js';
import { evaluateModel, type EvaluationMetrics } from '../shared/training/evaluate.js';
import { evaluateProfiles, heldOutProfileAges, type ProfileEvaluation } from '../shared/training/profile-eval.js';
import { MODEL_JSON, WEIGHTS_BIN, loadArtifacts } from '../shared/weights/artifacts.js';
import { keyCheckValue } from '../shared/data/key-check.js';
import { NO_ITEM } from '../shared/data/sequence.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { merchantJson, merchantRequest, responseError, type MerchantEndpoint, type MerchantFederationInfo } from './merchant-http.js';

export interface LocalProfilerOptions {
  /** The federation-wide id hashing secret: the same one the client trained with. */
  hashKey: string;
  /** The shared category taxonomy, so category ids never collide (see createHasher). */
  knownCategories?: readonly string[];
  /** The shared item catalogue, as given to the client that trained (see createHasher). */
  knownItems?: readonly string[];
  backend?: BackendChoice;
  /** Passed to profileUsers: topK, topInterests, explainTop, segments. */
  profile?: Omit<ProfileContext, 'hasher'>;
}

/** Where LocalProfiler.open finds the model: a saved directory, or the coordinator (enrolment token). */
export type ModelLocation = { modelDir: string } | (MerchantEndpoint & { round?: number | 'latest' });

export interface ProfileRequest {
  userId: string;
  events: readonly BehaviourEvent[];
}

export interface LocalEvaluation {
  protocol: EvaluationProtocol;
  model: EvaluationMetrics;
  /** The rules' combined row: popularity for items, most-recent category, purchase rate, majority tier. */
  baseline: EvaluationMetrics;
  /** Each rule by name on the same examples (first-order Markov included); null where unmeasurable. */
  baselines: NamedBaselines;
  /**
   * Completeness, timeliness and explanation faithfulness of the held-out users' profiles. Staleness is that
   * of profiles refreshed at the time-window cut-off (null under leave-one-out).
   */
  profile: ProfileEvaluation;
}

export interface LocalEvaluateOptions {
  seed?: number;
  interestTruth?: (userId: string) => readonly string[] | undefined;
  /**
   * time-window (default): each user's latest events are the test window. leave-one-out: the last item is
   * the target, ranked over all items with the user's history excluded and against 100 popularity negatives.
   */
  protocol?: EvaluationProtocol;
}

/**
 * A merchant's use of the shared global model on its own users. Raw events go in, profiles come out, and
 * nothing is sent anywhere: the model runs in this process on the merchant's hardware.
 */
export class LocalProfiler {
  private readonly hasher: Hasher;
  /** Hashed item id -> the merchant's own item id, learnt from every event this profiler has seen. */
  private readonly itemNames = new Map<number, string>();
  /** The model's federation round, when known (opened from the coordinator or a checkpoint's metadata). */
  round: number | undefined;

  private constructor(private readonly model: ProfileModel, private readonly opts: LocalProfilerOptions) {
    const cfg = model.config;
    if (!opts.hashKey || opts.hashKey.length < 8) throw new ConfigError('a hash key of at least 8 characters is required');
    this.hasher = createHasher({
      key: opts.hashKey, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, textVocab: cfg.textVocab,
      knownCategories: opts.knownCategories, knownItems: opts.knownItems,
    });
  }

  /** From a model given as config + flat weights (e.g. a FederatedClient's cached global model). */
  static async fromWeights(config: ModelConfig, values: Float32Array, opts: LocalProfilerOptions): Promise<LocalProfiler> {
    await initBackend(opts.backend);
    const model = ProfileModel.create(config, 0);
    try {
      loadFlatWeights(model, values);
    } catch (err) {
      model.dispose();
      throw err;
    }
    return new LocalProfiler(model, opts);
  }

  /**
   * From a saved model directory (model.json + weights.bin written by the coordinator or `saveArtifacts`), or
   * from the coordinator with the merchant's enrolment token: `open({ url, token, hashKey })` downloads the
   * latest global model (read-only scope) and refuses a hash key whose check value differs from the one the
   * federation's merchants pinned.
   */
  static async open(opts: LocalProfilerOptions & ModelLocation): Promise<LocalProfiler> {
    if ('modelDir' in opts) {
      const saved = await loadArtifacts(opts.modelDir);
      const p = await LocalProfiler.fromWeights(saved.modelConfig, saved.values, opts);
      const round = (saved.metadata as { round?: unknown }).round;
      if (typeof round === 'number') p.round = round;
      return p;
    }
    const info = await merchantJson<MerchantFederationInfo>(opts, 'GET', '/federation', 'cannot read the federation');
    assertKeyCheck(opts.hashKey, info.keyCheck);
    const round = opts.round ?? 'latest';
    const dir = await mkdtemp(join(tmpdir(), 'fedprofile-model-'));
    try {
      let served: number | undefined;
      for (const file of [MODEL_JSON, WEIGHTS_BIN]) {
        const r = await merchantRequest(opts, 'GET', `/model/${round}/${file}`);
        if (r.status !== 200) throw responseError(r, `cannot download ${file}`);
        served = Number(r.headers['x-fedprofile-round']);
        await writeFile(join(dir, file), r.body);
      }
      const p = await LocalProfiler.open({ ...opts, modelDir: dir });
      if (Number.isInteger(served)) p.round = served;
      return p;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  get config(): ModelConfig { return this.model.config; }

  /** Teaches the item reverse map (hashed id -> own item id) from events, e.g. the merchant's catalogue or log. */
  learnItems(events: Iterable<BehaviourEvent>): void {
    for (const e of events) if (e.itemId !== NO_ITEM) this.itemNames.set(this.hasher.item(e.itemId), e.itemId);
  }

  /**
   * Profiles of the given users, from their whole history: activity statistics count every event, the model
   * reads the latest `maxLen`. Next items are always the merchant's own item ids (buckets no event here maps
   * to are left out). Users with no events are rejected with one BAD_INPUT error naming them.
   */
  profile(users: readonly ProfileRequest[]): UserProfile[] {
    const empty = users.filter((u) => u.events.length === 0).map((u) => u.userId);
    if (empty.length > 0) {
      throw new FedProfileError('BAD_INPUT', `${empty.length} user(s) have no events to profile (first: ${empty[0]}); drop them or wait for activity`, { users: empty.slice(0, 10) });
    }
    for (const u of users) this.learnItems(u.events);
    // Profiles are keyed by the raw userId locally: that is what the merchant's own systems join on.
    const inputs = users.map((u) => ({ userKey: u.userId, events: [...u.events].sort((a, b) => a.timestamp - b.timestamp) }));
    // Learn the local names of the categories seen, so interest tags are readable here (and only here).
    for (const u of inputs) for (const e of u.events) this.hasher.category(e.categoryId);
    return profileUsers(this.model, inputs, { ...this.opts.profile, itemNames: this.itemNames, hasher: this.hasher });
  }

  /** Profiles of every user in a data file (any supported format), in batches. */
  async profileAll(path: string, onBatch?: (done: number, total: number) => void): Promise<UserProfile[]> {
    const { users } = await cleanEventStream(readEvents({ path }));
    const all = [...users.entries()];
    const out: UserProfile[] = [];
    for (let i = 0; i < all.length; i += 256) {
      out.push(...this.profile(all.slice(i, i + 256).map(([userId, events]) => ({ userId, events }))));
      onBatch?.(Math.min(i + 256, all.length), all.length);
    }
    return out;
  }

  /**
   * Held-out evaluation on local events (each user's latest events are the test window) next to the
   * popularity / most-recent-category / purchase-rate / majority-tier baselines on the same examples, and the
   * profile evaluation (completeness, timeliness, explanation faithfulness) of the same users.
   * `interestTruth` may give known true interest categories per raw userId (e.g. a survey or synthetic truth).
   */
  async evaluate(events: readonly BehaviourEvent[], opts: LocalEvaluateOptions = {}): Promise<LocalEvaluation> {
    const cfg = this.model.config;
    const { users } = cleanEvents(events);
    const protocol = opts.protocol ?? 'time-window';
    const loo = protocol === 'leave-one-out';
    const sets = buildExamples(users, this.hasher, cfg, { protocol });
    if (sets.test.length === 0) throw new FedProfileError('BAD_INPUT', 'no user has enough events for a held-out test window (at least 3 are needed)');
    let interestTruth: Map<string, Set<number>> | undefined;
    if (opts.interestTruth) {
      interestTruth = new Map();
      for (const userId of users.keys()) {
        const cats = opts.interestTruth(userId);
        if (cats) interestTruth.set(this.hasher.userKey(userId), new Set(cats.map((c) => this.hasher.category(c))));
      }
    }
    const seed = opts.seed ?? 0;
    const ranking = loo ? { excludeHistory: true, negativeWeights: itemPopularity(sets.train, cfg.itemVocab) } : {};
    const model = evaluateModel(this.model, sets.test, { k: 10, seed, interestTruth, ...ranking });
    const ruleOptions = { k: 10, seed, interestTruth, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, numTiers: cfg.numTiers };
    const baseline = evaluateBaselines(sets.train, sets.test, ruleOptions);
    const baselines = evaluateNamedBaselines(sets.train, sets.test, { ...ruleOptions, ...ranking });
    const profile = evaluateProfiles(this.model, sets.test.map((e) => e.input), { seed, ...(loo ? {} : { ages: heldOutProfileAges(users.values()) }) });
    return { protocol, model, baseline, baselines, profile };
  }

  close(): void { this.model.dispose(); }
}

/** Refuses a hash key whose check value differs from the federation's pinned one (none pinned: accepted). */
export function assertKeyCheck(hashKey: string, pinned: string | null | undefined): void {
  if (!pinned) return;
  const mine = keyCheckValue(hashKey);
  if (mine !== pinned) {
    throw new ConfigError(`the hash key does not match the federation's (key check ${mine} ≠ ${pinned}); use the key the other merchants use`, { keyCheck: mine, expected: pinned });
  }
}
