import seedrandom from 'seedrandom';
import { splitByTime, type SplitOptions } from '../data/clean.js';
import type { EncodedSequence } from '../data/encoded.js';
import type { BehaviourEvent } from '../data/events.js';
import { emptySequence } from '../data/sequence.js';
import { FedProfileError } from '../errors.js';
import { MASK_ID, PAD_ID } from '../model/batch.js';
import { headProbabilities, headsDistance, removeEvents } from '../model/occlusion.js';
import { profileModelOutputs, type ExplanationMethod, type ModelOutputs } from '../model/profile.js';
import type { ProfileModel } from '../model/profile-model.js';
import { topK } from './metrics.js';

/**
 * Profile evaluation beyond accuracy: completeness (who gets a profile that says something), timeliness
 * (how far behind the user a profile is, and how long a refresh takes) and explanation faithfulness (do the
 * events an explanation names actually drive the profile). Pure functions over plain arrays, plus a driver
 * that runs the model on encoded sequences.
 */

/** What the profile says about one user, as the model outputs it. */
export interface ProfileHeads {
  /** Interest probabilities per category id (index 0 = PAD, never ranked). */
  interests: ArrayLike<number>;
  propensity: number;
  /** Tier probabilities. */
  tier: ArrayLike<number>;
  /** Next-item probabilities per item id (ids 0 and 1 never ranked). */
  next: ArrayLike<number>;
}

export const PROFILE_FIELDS = ['interests', 'propensity', 'spendingTier', 'nextItems'] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

export interface CompletenessOptions {
  /** Interest tags compared with the default profile's. Default 3. */
  topInterests?: number;
  /** Next items compared with the default profile's. Default 10. */
  topItems?: number;
  /** Smallest propensity difference from the default that counts as a value of its own. Default 0.02. */
  propensityTolerance?: number;
}

export interface Completeness {
  users: number;
  /** Share of users with at least one field that differs from the default profile. */
  usersWithAnyField: number;
  /** Share of users whose every field differs from the default profile. */
  usersComplete: number;
  /** Share of users with a non-default value, per field. */
  fields: Record<ProfileField, number>;
  /** Share of (user, field) pairs with a non-default value. */
  fieldShare: number;
}

const sameSet = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x) => b.includes(x));
const argmaxOf = (v: ArrayLike<number>) => topK(v, 1)[0] ?? 0;

/**
 * A field has a non-default value when it differs from the default profile: what the model says about a user
 * it knows nothing about (no events). Interests and next items compare their top-N as sets, the tier its
 * most likely value, the propensity within a tolerance. A profile that equals the cold-start one for a field
 * tells a merchant nothing about that user there, however confident its numbers look.
 */
export function isNonDefault(p: ProfileHeads, cold: ProfileHeads, opts: CompletenessOptions = {}): Record<ProfileField, boolean> {
  const nI = opts.topInterests ?? 3;
  const nN = opts.topItems ?? 10;
  const tol = opts.propensityTolerance ?? 0.02;
  const items = (v: ArrayLike<number>) => topK(v, nN, MASK_ID + 1);
  return {
    interests: !sameSet(topK(p.interests, nI, PAD_ID + 1), topK(cold.interests, nI, PAD_ID + 1)),
    propensity: Math.abs(p.propensity - cold.propensity) >= tol,
    spendingTier: argmaxOf(p.tier) !== argmaxOf(cold.tier),
    nextItems: !sameSet(items(p.next), items(cold.next)),
  };
}

export function completeness(profiles: readonly ProfileHeads[], cold: ProfileHeads, opts: CompletenessOptions = {}): Completeness {
  const fields = Object.fromEntries(PROFILE_FIELDS.map((f) => [f, 0])) as Record<ProfileField, number>;
  let any = 0;
  let all = 0;
  for (const p of profiles) {
    const nd = isNonDefault(p, cold, opts);
    const filled = PROFILE_FIELDS.filter((f) => nd[f]);
    for (const f of filled) fields[f]++;
    if (filled.length > 0) any++;
    if (filled.length === PROFILE_FIELDS.length) all++;
  }
  const n = profiles.length;
  const share = (x: number) => (n === 0 ? Number.NaN : x / n);
  const filledPairs = PROFILE_FIELDS.reduce((s, f) => s + fields[f], 0);
  return {
    users: n,
    usersWithAnyField: share(any),
    usersComplete: share(all),
    fields: Object.fromEntries(PROFILE_FIELDS.map((f) => [f, share(fields[f])])) as Record<ProfileField, number>,
    fieldShare: n === 0 ? Number.NaN : filledPairs / (n * PROFILE_FIELDS.length),
  };
}

// ---------------------------------------------------------------------------------------------- timeliness

/** One user's profile against their history: the newest event it reflects, their newest event, events since. */
export interface ProfileAge {
  profiledThrough: number;
  lastEvent: number;
  eventsSince: number;
}

export interface Staleness {
  users: number;
  /** Seconds between the newest event a profile reflects and the user's newest event. */
  medianSeconds: number;
  p95Seconds: number;
  meanSeconds: number;
  /** Share of users whose profile reflects their newest event. */
  upToDate: number;
  /** Mean number of the user's events the profile does not reflect. */
  meanEventsBehind: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function staleness(ages: readonly ProfileAge[]): Staleness {
  const secs = ages.map((a) => Math.max(0, a.lastEvent - a.profiledThrough) / 1000).sort((a, b) => a - b);
  const n = ages.length;
  return {
    users: n,
    medianSeconds: quantile(secs, 0.5),
    p95Seconds: quantile(secs, 0.95),
    meanSeconds: n === 0 ? Number.NaN : secs.reduce((s, x) => s + x, 0) / n,
    upToDate: n === 0 ? Number.NaN : ages.filter((a) => a.eventsSince === 0).length / n,
    meanEventsBehind: n === 0 ? Number.NaN : ages.reduce((s, a) => s + a.eventsSince, 0) / n,
  };
}

/**
 * Ages of profiles built at the evaluation cut-off (each user's history without its held-out test window,
 * as the held-out examples are), against the user's newest event: how far behind a profile refreshed only
 * at that cut-off would be. Users without a test window are left out (their profile is never behind).
 */
export function heldOutProfileAges(users: Iterable<readonly BehaviourEvent[]>, split: SplitOptions = {}): ProfileAge[] {
  const out: ProfileAge[] = [];
  for (const events of users) {
    const { train, validation, test } = splitByTime(events, split);
    const history = validation.length > 0 ? validation : train;
    if (test.length === 0 || history.length === 0) continue;
    out.push({ profiledThrough: history[history.length - 1]!.timestamp, lastEvent: test[test.length - 1]!.timestamp, eventsSince: test.length });
  }
  return out;
}

export interface RefreshLatency {
  /** Wall time to recompute one user's profile alone (a batch of one), median and 95th percentile. */
  singleUserMsP50: number;
  singleUserMsP95: number;
  /** Wall time per user when profiles are recomputed in batches. */
  batchedMsPerUser: number;
  batchSize: number;
}

// --------------------------------------------------------------------------------------------- faithfulness

export { removeEvents } from '../model/occlusion.js';

/** How much a profile moved: interests mean |Δp| over categories, propensity |Δp|, tier total variation. */
export interface ProfileChange { interests: number; propensity: number; tier: number; combined: number }

type HeadsOnly = Pick<ProfileHeads, 'interests' | 'propensity' | 'tier'>;

export function profileChange(a: HeadsOnly, b: HeadsOnly): ProfileChange {
  return headsDistance(
    { interests: Float32Array.from(a.interests), propensity: a.propensity, tier: Float32Array.from(a.tier) },
    { interests: Float32Array.from(b.interests), propensity: b.propensity, tier: Float32Array.from(b.tier) },
  );
}

export interface Faithfulness {
  /** How the explanation weighed events. */
  method: ExplanationMethod;
  /** Events removed per user. */
  k: number;
  /** Users with at least 2k events (the others are left out). */
  users: number;
  /** Mean profile change when the k events the explanation weighs most are removed. */
  topRemoved: ProfileChange;
  /** Mean profile change when k random events are removed (averaged over the draws). */
  randomRemoved: ProfileChange;
  /** topRemoved.combined - randomRemoved.combined: > 0 means the explanation points at events that matter. */
  gap: number;
  /** Share of users whose profile moved more without their top events than without random ones. */
  topBeatsRandom: number;
}

const ZERO_CHANGE: ProfileChange = { interests: 0, propensity: 0, tier: 0, combined: 0 };
const addChange = (a: ProfileChange, b: ProfileChange, w = 1): ProfileChange => ({
  interests: a.interests + w * b.interests, propensity: a.propensity + w * b.propensity, tier: a.tier + w * b.tier, combined: a.combined + w * b.combined,
});

// ------------------------------------------------------------------------------------------------ driver

export interface ProfileEvaluationOptions extends CompletenessOptions {
  /** Events removed in the faithfulness test. Default 3. */
  k?: number;
  /** Random removals per user. Default 3. */
  randomDraws?: number;
  seed?: number;
  batchSize?: number;
  /** Users timed one at a time for the single-user refresh latency. Default 16. */
  latencySamples?: number;
  /** Profile ages (see heldOutProfileAges); without them staleness is left out. */
  ages?: readonly ProfileAge[];
  /** Explanation methods whose faithfulness is measured; the first is the one timed. Default both, occlusion first. */
  explanations?: readonly ExplanationMethod[];
}

export interface ProfileEvaluation {
  completeness: Completeness;
  timeliness: { staleness: Staleness | null; refresh: RefreshLatency };
  /** One entry per explanation method, in the order asked. */
  faithfulness: Faithfulness[];
}

/** Copies one user's heads out of a batch (next items only when asked: [V] per user adds up). */
function headsOf(out: ModelOutputs, b: number, C: number, T: number, V: number, keepNext: boolean): ProfileHeads {
  return {
    interests: out.interests.slice(b * C, (b + 1) * C),
    propensity: out.propensity[b]!,
    tier: out.tier.slice(b * T, (b + 1) * T),
    next: keepNext ? out.next.slice(b * V, (b + 1) * V) : new Float32Array(0),
  };
}

/** Runs the model over many sequences in batches, returning per-user heads and saliency rows. */
function runAll(model: ProfileModel, seqs: readonly EncodedSequence[], bs: number, keepNext: boolean, explain: ExplanationMethod = 'attention'): { heads: ProfileHeads[]; saliency: Float32Array[] } {
  const { categoryVocab: C, numTiers: T, itemVocab: V, maxLen: L } = model.config;
  const heads: ProfileHeads[] = [];
  const saliency: Float32Array[] = [];
  for (let s = 0; s < seqs.length; s += bs) {
    const out = profileModelOutputs(model, seqs.slice(s, s + bs), explain);
    const n = Math.min(bs, seqs.length - s);
    for (let b = 0; b < n; b++) {
      heads.push(headsOf(out, b, C, T, V, keepNext));
      saliency.push(out.saliency.slice(b * L, (b + 1) * L));
    }
  }
  return { heads, saliency };
}

/**
 * Completeness, timeliness and faithfulness of the profiles `model` gives the users behind `seqs` (encoded
 * histories, e.g. the held-out examples' inputs). The explanation is the profile's own (eventSaliency, the
 * events shown in UserProfile.explanation); faithfulness removes its top-k events, or k random ones, and
 * measures how much the profile heads move.
 */
export function evaluateProfiles(model: ProfileModel, seqs: readonly EncodedSequence[], opts: ProfileEvaluationOptions = {}): ProfileEvaluation {
  if (seqs.length === 0) throw new FedProfileError('BAD_INPUT', 'evaluateProfiles: no users to evaluate');
  const cfg = model.config;
  const bs = opts.batchSize ?? 64;
  const k = opts.k ?? 3;
  const draws = opts.randomDraws ?? 3;
  const methods = opts.explanations ?? ['occlusion', 'attention'];
  if (methods.length === 0) throw new FedProfileError('BAD_INPUT', 'evaluateProfiles: at least one explanation method is needed');

  const t0 = performance.now();
  const base = runAll(model, seqs, bs, true, methods[0]);
  const batchedMsPerUser = (performance.now() - t0) / seqs.length;
  const samples = Math.min(seqs.length, opts.latencySamples ?? 16);
  const single: number[] = [];
  for (let i = 0; i < samples; i++) {
    const s0 = performance.now();
    profileModelOutputs(model, [seqs[i]!], methods[0]);
    single.push(performance.now() - s0);
  }
  single.sort((a, b) => a - b);
  const cold = runAll(model, [emptySequence(cfg)], 1, true).heads[0]!;
  const saliencyOf = (m: ExplanationMethod): Float32Array[] => (m === methods[0] ? base.saliency : runAll(model, seqs, bs, false, m).saliency);
  const faithfulness = methods.map((m) => faithfulnessOf(model, seqs, base.heads, saliencyOf(m), m, k, draws, bs, seedrandom(`${opts.seed ?? 0}/faithfulness`)));

  return {
    completeness: completeness(base.heads, cold, opts),
    timeliness: {
      staleness: opts.ages ? staleness(opts.ages) : null,
      refresh: { singleUserMsP50: quantile(single, 0.5), singleUserMsP95: quantile(single, 0.95), batchedMsPerUser, batchSize: bs },
    },
    faithfulness,
  };
}

/** Removes each user's top-k events by `saliency`, or k random ones (`draws` times), and compares the moves. */
function faithfulnessOf(
  model: ProfileModel, seqs: readonly EncodedSequence[], baseHeads: readonly ProfileHeads[], saliency: readonly Float32Array[],
  method: ExplanationMethod, k: number, draws: number, bs: number, rand: () => number,
): Faithfulness {
  const eligible: number[] = [];
  seqs.forEach((s, i) => { if (s.length >= 2 * k) eligible.push(i); });
  const variants: EncodedSequence[] = [];
  for (const i of eligible) {
    const s = seqs[i]!;
    const real: number[] = [];
    for (let l = 0; l < s.item.length; l++) if (s.item[l] !== PAD_ID) real.push(l);
    const sal = saliency[i]!;
    // Ties (e.g. a uniform explanation) go to the newest event, the one a recency rule would name.
    const top = [...real].sort((a, b) => sal[b]! - sal[a]! || b - a).slice(0, k);
    variants.push(removeEvents(s, new Set(top)));
    for (let d = 0; d < draws; d++) {
      const pool = [...real];
      const chosen = new Set<number>();
      while (chosen.size < k) chosen.add(pool.splice(Math.floor(rand() * pool.length), 1)[0]!);
      variants.push(removeEvents(s, chosen));
    }
  }
  const moved = headProbabilities(model, variants, bs);
  let topSum = ZERO_CHANGE;
  let randSum = ZERO_CHANGE;
  let wins = 0;
  eligible.forEach((i, j) => {
    const off = j * (1 + draws);
    const top = profileChange(baseHeads[i]!, moved[off]!);
    let rnd = ZERO_CHANGE;
    for (let d = 1; d <= draws; d++) rnd = addChange(rnd, profileChange(baseHeads[i]!, moved[off + d]!), 1 / draws);
    topSum = addChange(topSum, top);
    randSum = addChange(randSum, rnd);
    if (top.combined > rnd.combined) wins++;
  });
  const n = eligible.length;
  const mean = (c: ProfileChange): ProfileChange => (n === 0
    ? { interests: Number.NaN, propensity: Number.NaN, tier: Number.NaN, combined: Number.NaN }
    : addChange(ZERO_CHANGE, c, 1 / n));
  const topRemoved = mean(topSum);
  const randomRemoved = mean(randSum);
  return {
    method, k, users: n, topRemoved, randomRemoved, gap: topRemoved.combined - randomRemoved.combined,
    topBeatsRandom: n === 0 ? Number.NaN : wins / n,
  };
}
