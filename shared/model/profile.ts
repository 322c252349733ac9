import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ACTIONS, type Action, type BehaviourEvent } from '../data/events.js';
import type { EncodedSequence } from '../data/encoded.js';
import type { Hasher } from '../data/hashing.js';
import { NO_ITEM, encodeSequence } from '../data/sequence.js';
import { FedProfileError } from '../errors.js';
import { MASK_ID, PAD_ID, disposeBatch, toBatch, nextItemInput } from './batch.js';
import { occlusionSaliency } from './occlusion.js';
import type { ProfileModel } from './profile-model.js';
import type { NextItemStatistics, Scorer } from './next-item-statistics.js';
import { readStatistics, statisticsOf } from './statistics-weights.js';

const DAY_MS = 86_400_000;

/** Behaviour statistics of one user, computed from raw events (nothing model-based). */
export interface ActivityStats {
  events: number;
  /** Events per active day span (first to last event, at least one day). */
  eventsPerDay: number;
  /** Purchases per 30 days over the same span. */
  purchaseFrequency: number;
  /**
   * Purchases expected over the next 30 days: the observed rate shrunk toward the model's propensity
   * (a Gamma-Poisson style blend, weight PRIOR_DAYS of pseudo-observation). Users with little history lean on
   * the model; heavy users lean on their own record.
   */
  expectedPurchases30d: number;
  /** Days between the user's last event and `now`; never negative. */
  lastActiveDaysAgo: number;
  actionCounts: Record<Action, number>;
}

const PRIOR_DAYS = 30;

export function activityStats(events: readonly BehaviourEvent[], now: number, propensity: number): ActivityStats {
  const actionCounts = Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<Action, number>;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    actionCounts[e.action]++;
    if (e.timestamp < first) first = e.timestamp;
    if (e.timestamp > last) last = e.timestamp;
  }
  const n = events.length;
  const spanDays = n === 0 ? 1 : Math.max(1, (last - first) / DAY_MS);
  const purchases = actionCounts.purchase;
  const purchaseFrequency = (purchases / spanDays) * 30;
  // Prior: propensity = chance of at least one purchase in the label window, read as ~`propensity` per 30 days.
  const expectedPurchases30d = ((purchases + propensity * (PRIOR_DAYS / 30)) / (spanDays + PRIOR_DAYS)) * 30;
  return {
    events: n,
    eventsPerDay: n / spanDays,
    purchaseFrequency,
    expectedPurchases30d,
    lastActiveDaysAgo: n === 0 ? 0 : Math.max(0, (now - last) / DAY_MS),
    actionCounts,
  };
}

/** Propensity bands used by the segment rule; the cut points are configurable per campaign. */
export const PROPENSITY_BANDS = ['low', 'medium', 'high'] as const;
export type PropensityBand = (typeof PROPENSITY_BANDS)[number];

export interface SegmentRule {
  /** Propensity below cuts[0] is 'low', below cuts[1] 'medium', else 'high'. Default [0.2, 0.5]. */
  propensityCuts: readonly [number, number];
  /** Users inactive for longer than this many days are marked lapsed (segment unchanged). Default 30. */
  lapsedAfterDays: number;
}

export const DEFAULT_SEGMENT_RULE: SegmentRule = { propensityCuts: [0.2, 0.5], lapsedAfterDays: 30 };

/**
 * Segment id = band × numTiers + tier: a deterministic grid over purchase propensity (low/medium/high) and
 * spending tier, so a campaign can target e.g. "high propensity, top tier" (premium upsell) or
 * "low propensity, any tier" (reactivation) by id, and ids mean the same thing on every client.
 */
export function segmentOf(propensity: number, tier: number, numTiers: number, rule: SegmentRule = DEFAULT_SEGMENT_RULE): {
  segment: number; band: PropensityBand; label: string;
} {
  const [lo, hi] = rule.propensityCuts;
  const bandIndex = propensity < lo ? 0 : propensity < hi ? 1 : 2;
  const band = PROPENSITY_BANDS[bandIndex];
  return { segment: bandIndex * numTiers + tier, band, label: `${band}-propensity/tier-${tier}` };
}

export const UserProfileSchema = z.strictObject({
  userKey: z.string().min(1),
  interests: z.array(z.strictObject({ category: z.union([z.string(), z.number().int()]), score: z.number().min(0).max(1) })),
  propensity: z.number().min(0).max(1),
  spendingTier: z.strictObject({ tier: z.number().int().min(0), probabilities: z.array(z.number().min(0).max(1)) }),
  activity: z.strictObject({
    events: z.number().int().min(0),
    eventsPerDay: z.number().min(0),
    purchaseFrequency: z.number().min(0),
    expectedPurchases30d: z.number().min(0),
    lastActiveDaysAgo: z.number().min(0),
    lapsed: z.boolean(),
    actionCounts: z.record(z.enum(ACTIONS), z.number().int().min(0)),
  }),
  embedding: z.array(z.number()),
  nextItems: z.array(z.strictObject({ item: z.string(), score: z.number().min(0).max(1) })),
  segment: z.number().int().min(0),
  segmentLabel: z.string(),
  explanation: z.array(z.strictObject({
    index: z.number().int().min(0),
    action: z.enum(ACTIONS),
    item: z.union([z.string(), z.number().int()]),
    category: z.union([z.string(), z.number().int()]),
    timestamp: z.number(),
    weight: z.number().min(0).max(1),
  })),
});
export type UserProfile = z.infer<typeof UserProfileSchema>;

export interface ProfileContext {
  /** The merchant's hasher (the same key and vocabularies the model was trained with). */
  hasher: Hasher;
  /** Display names for hashed category ids; otherwise the raw ids this hasher has seen are used. */
  categoryNames?: ReadonlyMap<number, string>;
  /**
   * The merchant's own ids for hashed item ids (its reverse map); raw item ids seen in the given users' events
   * are added. Next items whose bucket has no id here are left out rather than shown as bare numbers.
   */
  itemNames?: ReadonlyMap<number, string>;
  /** Next items per profile. Default 10. */
  topK?: number;
  /** Interest tags per profile. Default 5. */
  topInterests?: number;
  /** Events in the explanation. Default 5. */
  explainTop?: number;
  /** How the explanation weighs events (see ExplanationMethod). Default 'occlusion'. */
  explain?: ExplanationMethod;
  segments?: Partial<SegmentRule>;
  /** Reference time for recency (ms). Default: the latest event among the given users, so output is reproducible. */
  now?: number;
  batchSize?: number;
}

export interface ProfileInput {
  userKey: string;
  events: readonly BehaviourEvent[];
}

/** Everything a profile reads from the model for B users, as flat row-major arrays. */
export interface ModelOutputs {
  embedding: Float32Array; // [B,d]
  propensity: Float32Array; // [B]
  interests: Float32Array; // [B,C] sigmoid
  tier: Float32Array; // [B,T] softmax
  next: Float32Array; // [B,V] softmax
  saliency: Float32Array; // [B,L]
}

/**
 * How the explanation weighs events: 'occlusion' (default) = how much removing the event alone moves the
 * profile heads (faithful to the heads, wide part included; one extra heads-only pass per event);
 * 'attention' = last-layer attention the sequence pays to the event (one pass, but blind to the wide part).
 */
export type ExplanationMethod = 'occlusion' | 'attention';

/** One pass of the model over B encoded sequences: the heads, the next-item distribution and the saliency. */
export function profileModelOutputs(model: ProfileModel, seqs: readonly EncodedSequence[], explain: ExplanationMethod = 'occlusion'): ModelOutputs {
  const cfg = model.config;
  const batch = toBatch(seqs, cfg);
  const nextBatch = toBatch(seqs.map((s) => nextItemInput(s, cfg)), cfg);
  try {
    const outs = tf.tidy(() => {
      const { user: emb, logits: heads } = model.profileHeads(batch, false);
      return [emb, tf.sigmoid(heads.propensity), tf.sigmoid(heads.interests), tf.softmax(heads.tier),
        tf.softmax(model.nextItemLogits(nextBatch)), ...(explain === 'attention' ? [model.eventSaliency(batch)] : [])];
    });
    const [embedding, propensity, interests, tier, next, attention] = outs.map((t) => t.dataSync() as Float32Array);
    tf.dispose(outs);
    const saliency = explain === 'attention' ? attention! : occlusionSaliency(model, seqs);
    return { embedding: embedding!, propensity: propensity!, interests: interests!, tier: tier!, next: next!, saliency };
  } finally {
    disposeBatch(batch);
    disposeBatch(nextBatch);
  }
}

/**
 * Profiles of users from their raw events, on the merchant's side: the model's heads (interests, propensity,
 * spending tier), its next-item ranking and user embedding, behaviour statistics fused with the propensity,
 * a segment (see segmentOf) and an explanation (the events that move the profile heads most when removed; see ExplanationMethod).
 * Raw ids appear in the output only through the local name maps; nothing here leaves the client.
 */
export function profileUsers(model: ProfileModel, users: readonly ProfileInput[], ctx: ProfileContext): UserProfile[] {
  const cfg = model.config;
  const empty = users.filter((u) => u.events.length === 0);
  if (empty.length > 0) {
    throw new FedProfileError('BAD_INPUT', `${empty.length} user(s) have no events to profile (first: ${empty[0].userKey}); drop them or wait for activity`, { users: empty.length });
  }
  const rule: SegmentRule = { ...DEFAULT_SEGMENT_RULE, ...ctx.segments };
  const topK = ctx.topK ?? 10;
  const topInterests = ctx.topInterests ?? 5;
  const explainTop = ctx.explainTop ?? 5;
  const sorted = users.map((u) => [...u.events].sort((a, b) => a.timestamp - b.timestamp));
  const now = ctx.now ?? Math.max(...sorted.map((evs) => evs[evs.length - 1].timestamp));
  const localItemNames = new Map<number, string>();
  for (const evs of sorted) {
    for (const e of evs) {
      if (e.itemId !== NO_ITEM) localItemNames.set(ctx.hasher.item(e.itemId), e.itemId);
      ctx.hasher.category(e.categoryId); // teaches the hasher's local reverse map the names used below
    }
  }
  const noItem = ctx.hasher.item(NO_ITEM);
  // A bucket no known item maps to cannot be shown to a merchant as a recommendation: it is left out.
  const itemName = (id: number): string | undefined => ctx.itemNames?.get(id) ?? localItemNames.get(id);
  const categoryName = (id: number): string | number => {
    const named = ctx.categoryNames?.get(id);
    if (named !== undefined) return named;
    const raw = ctx.hasher.categoryNames(id);
    return raw.length > 0 ? raw.join('|') : id;
  };
  const C = cfg.categoryVocab;
  // Interest tags only over categories this merchant knows by name (seen locally or given), when any are
  // known: a hashed id nobody here has seen cannot be acted upon.
  const named = (id: number) => ctx.categoryNames?.has(id) === true || ctx.hasher.categoryNames(id).length > 0;
  let anyNamed = false;
  for (let i = 1; i < C && !anyNamed; i++) anyNamed = named(i);
  const T = cfg.numTiers;
  const V = cfg.itemVocab;
  const L = cfg.maxLen;
  const d = cfg.dModel;
  const bs = ctx.batchSize ?? 64;
  const profiles: UserProfile[] = [];
  // Next items come from the same fused scorer evaluation measures, when the model carries statistics.
  const carried = readStatistics(model);
  const stats = statisticsOf(carried);
  for (let start = 0; start < users.length; start += bs) {
    const chunk = sorted.slice(start, start + bs);
    const out = profileModelOutputs(model, chunk.map((evs) => encodeSequence(evs, ctx.hasher, cfg)), ctx.explain);
    chunk.forEach((events, b) => {
      const propensity = out.propensity[b];
      const interestRow = out.interests.subarray(b * C, (b + 1) * C);
      const tierProbs = Array.from(out.tier.subarray(b * T, (b + 1) * T));
      const tier = tierProbs.indexOf(Math.max(...tierProbs));
      const modelNext = out.next.subarray(b * V, (b + 1) * V);
      const itemEvents = events.filter((e) => e.itemId !== NO_ITEM);
      const categoryOf = new Map(itemEvents.map((e) => [ctx.hasher.item(e.itemId), ctx.hasher.category(e.categoryId)]));
      const nextRow = stats === null ? modelNext : fusedNext(modelNext, stats, carried!.scorer, itemEvents.map((e) => ctx.hasher.item(e.itemId)), (id) => categoryOf.get(id) ?? 0);
      const salRow = out.saliency.subarray(b * L, (b + 1) * L);
      const kept = Math.min(events.length, L);
      const activity = activityStats(events, now, propensity);
      const seg = segmentOf(propensity, tier, T, rule);
      profiles.push({
        userKey: users[start + b].userKey,
        interests: rankIndices(interestRow, topInterests, (i) => i !== PAD_ID && (!anyNamed || named(i)))
          .map((i) => ({ category: categoryName(i), score: interestRow[i] })),
        propensity,
        spendingTier: { tier, probabilities: tierProbs },
        activity: { ...activity, lapsed: activity.lastActiveDaysAgo > rule.lapsedAfterDays },
        embedding: Array.from(out.embedding.subarray(b * d, (b + 1) * d)),
        nextItems: rankIndices(nextRow, topK, (i) => i !== PAD_ID && i !== MASK_ID && i !== noItem && itemName(i) !== undefined)
          .map((i) => ({ item: itemName(i)!, score: nextRow[i] })),
        segment: seg.segment,
        segmentLabel: seg.label,
        explanation: rankIndices(salRow, explainTop, (pos) => pos >= L - kept)
          .map((pos) => {
            const index = events.length - L + pos;
            const e = events[index];
            return { index, action: e.action, item: e.itemId, category: e.categoryId, timestamp: e.timestamp, weight: salRow[pos] };
          }),
      });
    });
  }
  return profiles;
}

/** (1 − mix)·P_model + mix·P_statistics: the next-item distribution evaluation scores. */
function fusedNext(modelProbs: Float32Array, stats: NextItemStatistics, scorer: Scorer, history: readonly number[], categoryOf: (item: number) => number): Float64Array {
  const p = stats.distribution(history, scorer, categoryOf);
  const { mix } = scorer;
  for (let i = 0; i < p.length; i++) p[i] = (1 - mix) * (i < 2 ? 0 : modelProbs[i]!) + mix * p[i]!;
  return p;
}

/** Indices of the n largest values that pass `keep`, best first (lower index first on ties). */
function rankIndices(values: ArrayLike<number>, n: number, keep: (i: number) => boolean): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) if (keep(i)) idx.push(i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, n);
}
