import { z } from 'zod';
import { ACTIONS, type Action, type BehaviourEvent } from '../data/events.js';

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
  nextItems: z.array(z.strictObject({ item: z.union([z.string(), z.number().int()]), score: z.number().min(0).max(1) })),
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
