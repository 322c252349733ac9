/**
 * Spending tiers on a fixed, geometric price ladder shared by the label derivation (shared/data/labels) and
 * the synthetic generator, so a user's generated tier and the tier read back from their baskets agree.
 * Tier t prefers prices around TIER_BASE_PRICE * TIER_RATIO^t (10, 30, 90, 270, …); the thresholds between
 * tiers are the geometric midpoints of neighbouring centres.
 */
export const TIER_BASE_PRICE = 10;
export const TIER_RATIO = 3;

export function tierCentrePrice(tier: number): number {
  return TIER_BASE_PRICE * TIER_RATIO ** tier;
}

/** numTiers - 1 ascending thresholds; tier = how many thresholds the price reaches. */
export function defaultTierThresholds(numTiers: number): number[] {
  const out: number[] = [];
  for (let t = 0; t + 1 < numTiers; t++) out.push(Math.sqrt(tierCentrePrice(t) * tierCentrePrice(t + 1)));
  return out;
}

export function priceTier(price: number, thresholds: readonly number[]): number {
  let t = 0;
  while (t < thresholds.length && price >= thresholds[t]) t++;
  return t;
}
