import { cleanEventStream, cleanEvents } from '../shared/data/clean.js';
import type { BehaviourEvent } from '../shared/data/events.js';
import { buildExamples } from '../shared/data/examples.js';
import { createHasher, type Hasher } from '../shared/data/hashing.js';
import { readEvents } from '../shared/data/readers/index.js';
import { ConfigError, FedProfileError } from '../shared/errors.js';
import type { ModelConfig } from '../shared/model/config.js';
import { loadFlatWeights } from '../shared/model/init.js';
import { profileUsers, type ProfileContext, type UserProfile } from '../shared/model/profile.js';
import { ProfileModel } from '../shared/model/profile-model.js';
import { initBackend, type BackendChoice } from '../shared/tf/backend.js';
import { evaluateBaselines } from '../shared/training/baselines.js';
import { evaluateModel, type EvaluationMetrics } from '../shared/training/evaluate.js';
import { loadArtifacts } from '../shared/weights/artifacts.js';

export interface LocalProfilerOptions {
  /** The federation-wide id hashing secret: the same one the client trained with. */
  hashKey: string;
  /** The shared category taxonomy, so category ids never collide (see createHasher). */
  knownCategories?: readonly string[];
  backend?: BackendChoice;
  /** Passed to profileUsers: topK, topInterests, explainTop, segments. */
  profile?: Omit<ProfileContext, 'hasher'>;
}

export interface ProfileRequest {
  userId: string;
  events: readonly BehaviourEvent[];
}

export interface LocalEvaluation {
  model: EvaluationMetrics;
  baseline: EvaluationMetrics;
}

/**
 * A merchant's use of the shared global model on its own users. Raw events go in, profiles come out, and
 * nothing is sent anywhere: the model runs in this process on the merchant's hardware.
 */
export class LocalProfiler {
  private readonly hasher: Hasher;

  private constructor(private readonly model: ProfileModel, private readonly opts: LocalProfilerOptions) {
    const cfg = model.config;
    if (!opts.hashKey || opts.hashKey.length < 8) throw new ConfigError('a hash key of at least 8 characters is required');
    this.hasher = createHasher({
      key: opts.hashKey, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, textVocab: cfg.textVocab,
      knownCategories: opts.knownCategories,
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

  /** From a TF.js artifact directory (model.json + weights.bin) saved by the coordinator or `saveArtifacts`. */
  static async open(opts: LocalProfilerOptions & { modelDir: string }): Promise<LocalProfiler> {
    const saved = await loadArtifacts(opts.modelDir);
    return LocalProfiler.fromWeights(saved.modelConfig, saved.values, opts);
  }

  get config(): ModelConfig { return this.model.config; }

  /** Profiles of the given users. Users with no events are rejected with one BAD_INPUT error. */
  profile(users: readonly ProfileRequest[]): UserProfile[] {
    const sorted = users.map((u) => ({
      userKey: this.hasher.userKey(u.userId),
      events: [...u.events].sort((a, b) => a.timestamp - b.timestamp).slice(-this.model.config.maxLen),
    }));
    // Learn the local names of the categories seen, so interest tags are readable here (and only here).
    for (const u of sorted) for (const e of u.events) this.hasher.category(e.categoryId);
    const profiles = profileUsers(this.model, sorted, { ...this.opts.profile, hasher: this.hasher });
    // Profiles are keyed by the raw userId locally: that is what the merchant's own systems join on.
    return profiles.map((p, i) => ({ ...p, userKey: users[i]!.userId }));
  }

  /** Profiles of every user in a data file (any supported format), in batches. */
  async profileAll(path: string, onBatch?: (done: number, total: number) => void): Promise<UserProfile[]> {
    const { users } = await cleanEventStream(readEvents({ path }), { maxEvents: this.model.config.maxLen });
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
   * popularity / most-recent-category / majority-tier baselines on the same examples.
   * `interestTruth` may give known true interest categories per raw userId (e.g. a survey or synthetic truth).
   */
  async evaluate(events: readonly BehaviourEvent[], opts: { seed?: number; interestTruth?: (userId: string) => readonly string[] | undefined } = {}): Promise<LocalEvaluation> {
    const cfg = this.model.config;
    const { users } = cleanEvents(events);
    const sets = buildExamples(users, this.hasher, cfg);
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
    const model = evaluateModel(this.model, sets.test, { k: 10, seed, interestTruth });
    const baseline = evaluateBaselines(sets.train, sets.test, {
      k: 10, seed, interestTruth, itemVocab: cfg.itemVocab, categoryVocab: cfg.categoryVocab, numTiers: cfg.numTiers,
    });
    return { model, baseline };
  }

  close(): void { this.model.dispose(); }
}
