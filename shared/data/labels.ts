import type { ModelConfig } from '../model/config.js';
import type { UserLabels } from './encoded.js';
import type { BehaviourEvent } from './events.js';
import type { Hasher } from './hashing.js';
import { NO_ITEM } from './sequence.js';
import { defaultTierThresholds, priceTier } from './tiers.js';

/** Where a spending-tier label came from, most to least reliable. */
export type TierSource = 'basket' | 'viewed' | 'history' | 'default';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const prices = (events: readonly BehaviourEvent[], keep: (e: BehaviourEvent) => boolean): number[] =>
  events.filter((e) => e.price !== undefined && keep(e)).map((e) => e.price as number);

/**
 * The spending tier of a label window: the median price of carted/purchased items (what the user pays for),
 * else of any priced item in the window, else of the history's priced items, else the middle tier (data sets
 * without prices, such as MovieLens, then carry no tier signal and `source` says so).
 */
export function spendingTier(
  window: readonly BehaviourEvent[],
  numTiers: number,
  thresholds: readonly number[] = defaultTierThresholds(numTiers),
  history: readonly BehaviourEvent[] = [],
): { tier: number; source: TierSource } {
  const clamp = (t: number): number => Math.min(numTiers - 1, t);
  const basket = prices(window, (e) => e.action === 'cart' || e.action === 'purchase');
  if (basket.length > 0) return { tier: clamp(priceTier(median(basket), thresholds)), source: 'basket' };
  const viewed = prices(window, () => true);
  if (viewed.length > 0) return { tier: clamp(priceTier(median(viewed), thresholds)), source: 'viewed' };
  const past = prices(history, () => true);
  if (past.length > 0) return { tier: clamp(priceTier(median(past), thresholds)), source: 'history' };
  return { tier: Math.floor((numTiers - 1) / 2), source: 'default' };
}

/**
 * Labels from a user's own later events (the label window): purchased = any purchase in the window;
 * interests = multi-hot of every category engaged with in the window (any action); tier = spendingTier;
 * nextItems = hashed items of the window in time order, searches excluded.
 */
export function deriveLabels(
  window: readonly BehaviourEvent[],
  hasher: Hasher,
  cfg: ModelConfig,
  tierThresholds: readonly number[] = defaultTierThresholds(cfg.numTiers),
  history: readonly BehaviourEvent[] = [],
): UserLabels {
  const interests = new Float32Array(cfg.categoryVocab);
  const nextItems: number[] = [];
  let purchased: 0 | 1 = 0;
  for (const e of window) {
    if (e.action === 'purchase') purchased = 1;
    interests[hasher.category(e.categoryId)] = 1;
    if (e.itemId !== NO_ITEM && e.action !== 'search') nextItems.push(hasher.item(e.itemId));
  }
  const { tier, source } = spendingTier(window, cfg.numTiers, tierThresholds, history);
  return { purchased, interests, tier, tierKnown: source !== 'default', nextItems };
}
