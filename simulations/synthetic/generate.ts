import { mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { ConfigError } from '../../shared/errors.js';
import type { Action, BehaviourEvent } from '../../shared/data/events.js';
import { NO_ITEM } from '../../shared/data/sequence.js';
import { tierCentrePrice } from '../../shared/data/tiers.js';
import { buildCatalogue, zipfWeights, type Catalogue } from './catalogue.js';
import { cdf, dirichlet, drawIndex, exponential, fastUniform, normal, poisson, type Uniform as Rng } from '../../shared/random.js';
import { REVIEW_WORDS } from './vocabulary.js';

export interface SyntheticOptions {
  seed: number | string;
  users: number;
  merchants: number;
  categories: number;
  itemsPerCategory: number;
  numTiers: number;
  /** Length of the simulated period. */
  days: number;
  /** Start of the period, ms since epoch (fixed default so output never depends on the clock). */
  startTime: number;
  /** Dirichlet concentration of each merchant's category mix (smaller = more skewed, more non-IID). */
  merchantAlpha: number;
  /** Total Dirichlet concentration of a user's interests around the merchant mix (smaller = more focused). */
  userConcentration: number;
  /** Median sessions per week (log-normal across users). */
  sessionsPerWeek: number;
  /** Mean product views per session. */
  viewsPerSession: number;
  /** Probability a session starts with a search query. */
  searchRate: number;
  /** Probability a purchase is followed by a review. */
  reviewRate: number;
  zipfExponent: number;
  priceSigma: number;
}

export const DEFAULT_SYNTHETIC: SyntheticOptions = {
  seed: 1, users: 1000, merchants: 4, categories: 16, itemsPerCategory: 120, numTiers: 4, days: 30,
  startTime: Date.UTC(2024, 0, 1), merchantAlpha: 0.5, userConcentration: 1.5, sessionsPerWeek: 2,
  viewsPerSession: 6, searchRate: 0.3, reviewRate: 0.15, zipfExponent: 1.0, priceSigma: 1.0,
};

/** Ground truth for one user: what the generator drew before producing events. */
export interface UserTruth {
  userId: string;
  merchantId: string;
  /** Top interests (up to 5, weight >= 0.02), highest first; weights are the latent Dirichlet draw. */
  interests: { categoryId: string; weight: number }[];
  /** Spending tier in [0, numTiers): the user prefers prices near tierCentrePrice(tier). */
  priceTier: number;
  /** Latent sessions per week. */
  activityRate: number;
  /** Latent probability that a carted item is bought. */
  purchaseRate: number;
  /** Realised counts in the generated period. */
  events: number;
  purchases: number;
}

export interface MerchantTruth {
  merchantId: string;
  /** The merchant's category mix (Dirichlet draw), by category id. */
  categoryMix: Record<string, number>;
}

export interface SyntheticData {
  events: BehaviourEvent[];
  truth: UserTruth[];
  merchants: MerchantTruth[];
  catalogue: Catalogue;
  options: SyntheticOptions;
}

/** Width of the price-fit bell in log-price: one tier step (×3) away keeps ~19% of the fit. */
const PRICE_FIT_SIGMA = 0.6;
const CLICK_GIVEN_VIEW = 0.45;
const CART_GIVEN_CLICK = 0.5;
/** Probability the next view stays in the session's category rather than following the interest mix again. */
const STAY_IN_CATEGORY = 0.8;

function checkOptions(o: SyntheticOptions): void {
  const positiveInt = (name: keyof SyntheticOptions, min = 1): void => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ConfigError(`synthetic option ${name} must be an integer >= ${min} (got ${String(v)})`);
  };
  positiveInt('users');
  positiveInt('merchants');
  positiveInt('categories', 2);
  positiveInt('itemsPerCategory');
  positiveInt('numTiers', 2);
  for (const k of ['days', 'merchantAlpha', 'userConcentration', 'sessionsPerWeek', 'viewsPerSession', 'priceSigma'] as const) {
    if (!(o[k] > 0)) throw new ConfigError(`synthetic option ${k} must be > 0 (got ${o[k]})`);
  }
  for (const k of ['searchRate', 'reviewRate'] as const) {
    if (!(o[k] >= 0 && o[k] <= 1)) throw new ConfigError(`synthetic option ${k} must be in [0, 1] (got ${o[k]})`);
  }
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

function words(rng: Rng, vocab: readonly string[], min: number, max: number): string {
  const n = min + Math.floor(rng() * (max - min + 1));
  return Array.from({ length: n }, () => pick(rng, vocab)).join(' ');
}

/**
 * Generates a seeded synthetic e-commerce world. Each merchant has a skewed category mix (Dirichlet); each of
 * its users draws interests around that mix (a concentrated Dirichlet), a price tier, an activity rate and a
 * purchase propensity. Sessions start at random times; a session may open with a search, then views follow
 * popularity (Zipf) tilted towards the user's price tier, and each view goes down the funnel
 * view → click → cart → purchase with probabilities driven by price fit (and interest, via which categories
 * are browsed at all), purchases sometimes followed by a review.
 */
export function generateSynthetic(partial: Partial<SyntheticOptions> = {}): SyntheticData {
  const o: SyntheticOptions = { ...DEFAULT_SYNTHETIC, ...partial };
  checkOptions(o);
  const rng = fastUniform(o.seed);
  const catalogue = buildCatalogue(rng, o);
  const K = o.categories;
  const perCat = o.itemsPerCategory;
  const zipf = zipfWeights(perCat, o.zipfExponent);
  const logCentres = Array.from({ length: o.numTiers }, (_, t) => Math.log(tierCentrePrice(t)));
  const fit = (price: number, tier: number): number => {
    const z = (Math.log(price) - logCentres[tier]) / PRICE_FIT_SIGMA;
    return Math.exp(-0.5 * z * z);
  };
  // Views lean towards affordable items: popularity × (floor + price fit), one table per (category, tier).
  const viewCdf: Float64Array[][] = [];
  for (let c = 0; c < K; c++) {
    viewCdf.push([]);
    for (let t = 0; t < o.numTiers; t++) {
      viewCdf[c].push(cdf(zipf.map((w, r) => w * (0.1 + fit(catalogue.items[c * perCat + r].price, t)))));
    }
  }

  const merchants: MerchantTruth[] = [];
  const mixes: number[][] = [];
  for (let m = 0; m < o.merchants; m++) {
    const mix = dirichlet(rng, new Array<number>(K).fill(o.merchantAlpha));
    mixes.push(mix);
    merchants.push({ merchantId: `m${m + 1}`, categoryMix: Object.fromEntries(catalogue.categories.map((c, i) => [c.id, mix[i]])) });
  }

  const events: BehaviourEvent[] = [];
  const truth: UserTruth[] = [];
  const periodMs = o.days * 86_400_000;
  const idWidth = Math.max(5, String(o.users).length);

  for (let u = 0; u < o.users; u++) {
    const m = u % o.merchants;
    const userId = `u${String(u + 1).padStart(idWidth, '0')}`;
    const merchantId = merchants[m].merchantId;
    const theta = dirichlet(rng, mixes[m].map((w) => o.userConcentration * (w + 0.02 / K)));
    const thetaCdf = cdf(theta);
    const tier = Math.floor(rng() * o.numTiers);
    const activityRate = o.sessionsPerWeek * Math.exp(0.6 * normal(rng));
    const purchaseRate = 0.15 + 0.6 * rng() ** 1.5;
    const sessions = Math.max(1, poisson(rng, (activityRate * o.days) / 7));
    const starts = Array.from({ length: sessions }, () => o.startTime + rng() * periodMs).sort((a, b) => a - b);
    let userEvents = 0;
    let purchases = 0;
    let lastTs = -Infinity;

    const emit = (ts: number, itemId: string, categoryId: string, action: Action, price?: number, text?: string): void => {
      const timestamp = Math.round(Math.max(ts, lastTs + 1000));
      lastTs = timestamp;
      const e: BehaviourEvent = { userId, timestamp, itemId, categoryId, action };
      if (price !== undefined) e.price = price;
      if (text !== undefined) e.text = text;
      e.merchantId = merchantId;
      events.push(e);
      userEvents++;
    };

    for (const start of starts) {
      let t = Math.max(start, lastTs + 60_000);
      let c = drawIndex(rng, thetaCdf);
      const category = catalogue.categories[c];
      if (rng() < o.searchRate) {
        emit(t, NO_ITEM, category.id, 'search', undefined, words(rng, category.words, 1, 3));
        t += 3000 + exponential(rng, 10_000);
      }
      const views = 1 + poisson(rng, o.viewsPerSession - 1);
      for (let v = 0; v < views; v++) {
        if (v > 0 && rng() > STAY_IN_CATEGORY) c = drawIndex(rng, thetaCdf);
        const cat = catalogue.categories[c];
        const item = catalogue.items[c * perCat + drawIndex(rng, viewCdf[c][tier])];
        emit(t, item.id, cat.id, 'view', item.price);
        t += 5000 + exponential(rng, 20_000);
        const f = fit(item.price, tier);
        if (rng() < CLICK_GIVEN_VIEW * (0.3 + 0.7 * f)) {
          emit(t, item.id, cat.id, 'click', item.price);
          t += 5000 + exponential(rng, 30_000);
          if (rng() < CART_GIVEN_CLICK * f) {
            emit(t, item.id, cat.id, 'cart', item.price);
            t += 5000 + exponential(rng, 40_000);
            if (rng() < purchaseRate) {
              emit(t, item.id, cat.id, 'purchase', item.price);
              purchases++;
              t += 10_000 + exponential(rng, 30_000);
              if (rng() < o.reviewRate) {
                emit(t, item.id, cat.id, 'review', item.price, `${pick(rng, REVIEW_WORDS)} ${words(rng, cat.words, 1, 3)}`);
                t += 10_000 + exponential(rng, 30_000);
              }
            }
          }
        }
        t += exponential(rng, 40_000);
      }
    }

    const interests = theta
      .map((weight, i) => ({ categoryId: catalogue.categories[i].id, weight }))
      .filter((x) => x.weight >= 0.02)
      .sort((a, b) => b.weight - a.weight || (a.categoryId < b.categoryId ? -1 : 1))
      .slice(0, 5)
      .map((x) => ({ categoryId: x.categoryId, weight: Math.round(x.weight * 1e4) / 1e4 }));
    truth.push({
      userId, merchantId, interests, priceTier: tier,
      activityRate: Math.round(activityRate * 1e4) / 1e4, purchaseRate: Math.round(purchaseRate * 1e4) / 1e4,
      events: userEvents, purchases,
    });
  }
  // A log is in time order; the stable sort keeps each user's own order on equal timestamps.
  events.sort((a, b) => a.timestamp - b.timestamp);
  return { events, truth, merchants, catalogue, options: o };
}

export interface WrittenSynthetic {
  dir: string;
  eventsPath: string;
  /** One events file per merchant (`merchants/<merchantId>.jsonl`): what each merchant's client reads. */
  merchantEventsPaths: Record<string, string>;
  truthPath: string;
  cataloguePath: string;
  /** The shared category taxonomy (a JSON array of category ids), the file `fedprofile client --categories` takes. */
  taxonomyPath: string;
  events: number;
  users: number;
  generateMs: number;
}

async function writeJsonl(path: string, events: readonly BehaviourEvent[]): Promise<void> {
  const out = createWriteStream(path, { encoding: 'utf8' });
  const CHUNK = 5000;
  for (let i = 0; i < events.length; i += CHUNK) {
    const text = events.slice(i, i + CHUNK).map((e) => JSON.stringify(e)).join('\n') + '\n';
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/**
 * Writes events.jsonl (all merchants, one event per line), merchants/<id>.jsonl (each merchant's own events),
 * taxonomy.json (the category ids), truth.json ({ options, merchants, users }) and catalogue.json.
 */
export async function writeSynthetic(dir: string, partial: Partial<SyntheticOptions> = {}): Promise<WrittenSynthetic> {
  const t0 = performance.now();
  const data = generateSynthetic(partial);
  const generateMs = performance.now() - t0;
  mkdirSync(join(dir, 'merchants'), { recursive: true });
  const eventsPath = join(dir, 'events.jsonl');
  await writeJsonl(eventsPath, data.events);
  const byMerchant = new Map<string, BehaviourEvent[]>(data.merchants.map((m) => [m.merchantId, []]));
  for (const e of data.events) byMerchant.get(e.merchantId ?? '')?.push(e);
  const merchantEventsPaths: Record<string, string> = {};
  for (const [merchantId, events] of byMerchant) {
    merchantEventsPaths[merchantId] = join(dir, 'merchants', `${merchantId}.jsonl`);
    await writeJsonl(merchantEventsPaths[merchantId], events);
  }
  const truthPath = join(dir, 'truth.json');
  writeFileSync(truthPath, JSON.stringify({ options: data.options, merchants: data.merchants, users: data.truth }, null, 1));
  const cataloguePath = join(dir, 'catalogue.json');
  writeFileSync(cataloguePath, JSON.stringify(data.catalogue));
  const taxonomyPath = join(dir, 'taxonomy.json');
  writeFileSync(taxonomyPath, `${JSON.stringify(data.catalogue.categories.map((c) => c.id))}\n`);
  return {
    dir, eventsPath, merchantEventsPaths, truthPath, cataloguePath, taxonomyPath,
    events: data.events.length, users: data.truth.length, generateMs,
  };
}
