import { ACTIONS } from '../data/events.js';
import type { EncodedSequence } from '../data/encoded.js';
import { PRICE_BUCKET_MAX } from '../data/buckets.js';
import { defaultTierThresholds, priceTier } from '../data/tiers.js';
import type { ModelConfig } from './config.js';

/**
 * Explicit per-user features for the wide half of the profile heads, computed from the encoded sequence alone
 * (so they exist wherever a batch does: training, evaluation, profiling, on every client).
 *
 * Layout of one user's vector: CATEGORY_BLOCKS maps over the category ids (each of length categoryVocab),
 * then the global features (see globalFeatureNames). The rules the heads must beat are linear in these
 * features, which is what lets each head start exactly at its rule (see wideInit).
 */

/** Half-life, in events, of the recency weighting: the 8th most recent event counts half as much as the last. */
export const RECENCY_HALF_LIFE = 8;

/** Per-category feature maps, in this order. */
export const CATEGORY_BLOCKS = [
  /** 0.5^r, r = rank of the category among distinct categories by last touch (0 = latest); 0 if untouched. */
  'recencyRank',
  /** 1 / (1 + r), a slower decay of the same rank; 0 if untouched. */
  'inverseRank',
  /** Recency-weighted share of the user's events in the category (sums to 1). */
  'recencyShare',
  /** Plain share of the user's events in the category. */
  'share',
  /** Share of the user's cart and purchase events in the category (0 without any). */
  'basketShare',
  /**
   * Share of the user's category visits (runs of consecutive events in one category): a browsing burst is
   * one expression of interest, however many events it has, so this estimates the interest mix better than
   * the event share when sessions stay in a category.
   */
  'visitShare',
] as const;

const PURCHASE = ACTIONS.indexOf('purchase') + 1;
const CART = ACTIONS.indexOf('cart') + 1;
const A = ACTIONS.length;

/** Names of the global features, in vector order (price histograms only when the config has prices). */
export function globalFeatureNames(cfg: ModelConfig): string[] {
  const names = [
    ...ACTIONS.map((a) => `share/${a}`),
    ...ACTIONS.map((a) => `recentShare/${a}`),
    'anyPurchase', 'eventsSinceLastPurchase', 'logLength', 'categoryDiversity', 'lastGap', 'meanGap',
    'pricedShare', 'meanPrice', 'meanBasketPrice',
  ];
  for (let b = 1; b < cfg.priceBuckets; b++) names.push(`priceHist/${b}`);
  for (let b = 1; b < cfg.priceBuckets; b++) names.push(`basketPriceHist/${b}`);
  return names;
}

export interface UserFeatureLayout {
  categories: number;
  categoryBlocks: number;
  global: number;
  /** categoryBlocks * categories + global */
  size: number;
  /** Offset of the global features in the vector. */
  globalOffset: number;
}

export function userFeatureLayout(cfg: ModelConfig): UserFeatureLayout {
  const categories = cfg.categoryVocab;
  const global = globalFeatureNames(cfg).length;
  const globalOffset = CATEGORY_BLOCKS.length * categories;
  return { categories, categoryBlocks: CATEGORY_BLOCKS.length, global, size: globalOffset + global, globalOffset };
}

/** Fills `out` (length layout.size) with one user's features. Ids outside a field's vocabulary count as PAD. */
export function writeUserFeatures(seq: EncodedSequence, cfg: ModelConfig, out: Float32Array): void {
  const C = cfg.categoryVocab;
  const L = seq.item.length;
  const P = cfg.priceBuckets;
  out.fill(0);
  const rank = out.subarray(0, C);
  const invRank = out.subarray(C, 2 * C);
  const recent = out.subarray(2 * C, 3 * C);
  const share = out.subarray(3 * C, 4 * C);
  const basket = out.subarray(4 * C, 5 * C);
  const visits = out.subarray(5 * C, 6 * C);
  const g = out.subarray(CATEGORY_BLOCKS.length * C);
  const actionShare = g.subarray(0, A);
  const recentAction = g.subarray(A, 2 * A);
  const scalars = 2 * A;
  const priceHist = g.subarray(scalars + 9, scalars + 9 + Math.max(0, P - 1));
  const basketPriceHist = g.subarray(scalars + 9 + Math.max(0, P - 1));

  let n = 0;
  let wSum = 0;
  let baskets = 0;
  let distinct = 0;
  let visitCount = 0;
  let newerCategory = -1;
  let sinceLastPurchase = -1;
  let gapSum = 0;
  let gapN = 0;
  let lastGap = 0;
  let priced = 0;
  let priceSum = 0;
  let basketPriced = 0;
  let basketPriceSum = 0;
  const gapScale = cfg.gapBuckets > 1 ? 1 / (cfg.gapBuckets - 1) : 0;
  const priceScale = P > 1 ? 1 / (P - 1) : 0;
  // Newest first, so ranks and "events since" fall out of the scan order.
  for (let l = L - 1; l >= 0; l--) {
    if (seq.item[l] === 0) continue;
    const age = n;
    n++;
    const w = 0.5 ** (age / RECENCY_HALF_LIFE);
    wSum += w;
    const c = seq.category[l]!;
    const a = seq.action[l]!;
    const isBasket = a === PURCHASE || a === CART;
    if (c > 0 && c < C) {
      if (rank[c] === 0) {
        rank[c] = 0.5 ** distinct;
        invRank[c] = 1 / (1 + distinct);
        distinct++;
      }
      recent[c] += w;
      share[c] += 1;
      if (c !== newerCategory) {
        visits[c] += 1;
        visitCount++;
      }
      if (isBasket) basket[c] += 1;
    }
    newerCategory = c;
    if (a > 0 && a <= A) {
      actionShare[a - 1] += 1;
      recentAction[a - 1] += w;
    }
    if (isBasket) baskets++;
    if (a === PURCHASE && sinceLastPurchase < 0) sinceLastPurchase = age;
    const gap = seq.gap[l]!;
    if (gap > 0 && gap < cfg.gapBuckets) {
      if (gapN === 0) lastGap = gap * gapScale;
      gapSum += gap * gapScale;
      gapN++;
    }
    const p = seq.price[l]!;
    if (p > 0 && p < P) {
      priced++;
      priceSum += p * priceScale;
      priceHist[p - 1] += 1;
      if (isBasket) {
        basketPriced++;
        basketPriceSum += p * priceScale;
        basketPriceHist[p - 1] += 1;
      }
    }
  }
  if (n === 0) return;
  const scale = (v: Float32Array, by: number) => { if (by > 0) for (let i = 0; i < v.length; i++) v[i] /= by; };
  scale(recent, wSum);
  scale(share, n);
  scale(basket, baskets);
  scale(visits, visitCount);
  scale(actionShare, n);
  scale(recentAction, wSum);
  scale(priceHist, priced);
  scale(basketPriceHist, basketPriced);
  g[scalars] = sinceLastPurchase >= 0 ? 1 : 0;
  g[scalars + 1] = sinceLastPurchase >= 0 ? sinceLastPurchase / L : 1;
  g[scalars + 2] = Math.log1p(n) / Math.log1p(L);
  g[scalars + 3] = distinct / Math.max(1, Math.min(n, C - 1));
  g[scalars + 4] = lastGap;
  g[scalars + 5] = gapN > 0 ? gapSum / gapN : 0;
  g[scalars + 6] = priced / n;
  g[scalars + 7] = priced > 0 ? priceSum / priced : 0;
  g[scalars + 8] = basketPriced > 0 ? basketPriceSum / basketPriced : 0;
}

/** Features of B sequences, row-major [B, layout.size]. */
export function userFeatures(seqs: readonly EncodedSequence[], cfg: ModelConfig): Float32Array {
  const { size } = userFeatureLayout(cfg);
  const out = new Float32Array(seqs.length * size);
  seqs.forEach((s, b) => writeUserFeatures(s, cfg, out.subarray(b * size, (b + 1) * size)));
  return out;
}

/** Price a log-spaced bucket stands for (its geometric centre), the inverse of priceBucket. */
export function priceBucketCentre(bucket: number, buckets: number, maxPrice = PRICE_BUCKET_MAX): number {
  return Math.expm1(((bucket - 0.5) / (buckets - 1)) * Math.log1p(maxPrice));
}

/**
 * Features enter the wide parts multiplied by this, and the wide weights start divided by it: the same
 * function, but Adam (whose steps are about learningRate per weight) moves the wide part this many times
 * faster than a weight on unit-scale inputs. Wide & deep training gives the wide part its own, faster
 * optimiser for the same reason: it has few weights, each backed by every example.
 */
export const WIDE_FEATURE_SCALE = 10;

/** Logit scale of the rules the wide parts start from. */
export const WIDE_INIT = {
  /** interest logit = this · 0.5^(recency rank): the most-recent-category rule's order. */
  interestRecency: 4,
  /** propensity logit = this · purchase share: the purchase-rate rule's order. */
  propensityPurchaseRate: 8,
  /** tier logit += this · share of the user's priced events whose price falls in the tier… */
  tierPrice: 2,
  /** …and this · the same share over carted and purchased events (what the tier label is read from). */
  tierBasketPrice: 3,
} as const;

/**
 * Initial wide weights, chosen so each head starts at its rule (the deep part starts near zero):
 * interests rank categories by recency of last touch, propensity by purchase rate, tier by the tier of the
 * prices the user has seen and paid (on the default tier ladder); without prices the tier starts uniform and
 * its bias learns the majority.
 */
export function wideInit(cfg: ModelConfig): { interests: Float32Array; propensity: Float32Array; tier: Float32Array } {
  const names = globalFeatureNames(cfg);
  const G = names.length;
  const T = cfg.numTiers;
  const s = WIDE_FEATURE_SCALE;
  const interests = new Float32Array(CATEGORY_BLOCKS.length);
  interests[CATEGORY_BLOCKS.indexOf('recencyRank')] = WIDE_INIT.interestRecency / s;
  const propensity = new Float32Array(G);
  propensity[names.indexOf('share/purchase')] = WIDE_INIT.propensityPurchaseRate / s;
  const tier = new Float32Array(G * T);
  const thresholds = defaultTierThresholds(T);
  for (let b = 1; b < cfg.priceBuckets; b++) {
    const t = Math.min(T - 1, priceTier(priceBucketCentre(b, cfg.priceBuckets), thresholds));
    tier[names.indexOf(`priceHist/${b}`) * T + t] = WIDE_INIT.tierPrice / s;
    tier[names.indexOf(`basketPriceHist/${b}`) * T + t] = WIDE_INIT.tierBasketPrice / s;
  }
  return { interests, propensity, tier };
}
