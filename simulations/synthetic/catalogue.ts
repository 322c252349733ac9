import { normal, type Uniform as Rng } from '../../shared/random.js';
import { categoryWords } from './vocabulary.js';

export interface CatalogueCategory {
  id: string;
  words: string[];
  /** Median item price in this category (log-normal centre). */
  medianPrice: number;
}

export interface CatalogueItem {
  id: string;
  categoryId: string;
  price: number;
  /** Popularity rank within its category, 1 = most popular (Zipf weight 1/rank^s). */
  rank: number;
}

export interface Catalogue {
  categories: CatalogueCategory[];
  items: CatalogueItem[];
}

export interface CatalogueOptions {
  categories: number;
  itemsPerCategory: number;
  /** Zipf exponent of popularity within a category. */
  zipfExponent: number;
  /** Log-normal sigma of prices within a category. */
  priceSigma: number;
}

/** Category medians spread log-uniformly over this range, so every category has items in every tier. */
const MEDIAN_PRICE_RANGE = [12, 150] as const;

export function buildCatalogue(rng: Rng, o: CatalogueOptions): Catalogue {
  const categories: CatalogueCategory[] = [];
  const items: CatalogueItem[] = [];
  const [lo, hi] = MEDIAN_PRICE_RANGE;
  for (let c = 0; c < o.categories; c++) {
    const { name, words } = categoryWords(c);
    const medianPrice = Math.round(Math.exp(Math.log(lo) + rng() * (Math.log(hi) - Math.log(lo))) * 100) / 100;
    categories.push({ id: name, words, medianPrice });
    for (let r = 1; r <= o.itemsPerCategory; r++) {
      const price = Math.min(5000, Math.max(0.5, medianPrice * Math.exp(o.priceSigma * normal(rng))));
      items.push({ id: `${name}-${String(r).padStart(4, '0')}`, categoryId: name, price: Math.round(price * 100) / 100, rank: r });
    }
  }
  return { categories, items };
}

/** Items of one category with their Zipf popularity weights (index = rank - 1). */
export function zipfWeights(n: number, s: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
}

