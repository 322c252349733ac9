import type { ModelConfig } from '../../shared/model/config.js';
import seedrandom from 'seedrandom';
import type { UserExample } from '../../shared/data/encoded.js';

/** A left-padded UserExample built from short arrays, for hand-computed metric cases. */
export function handExample(o: {
  userKey?: string; maxLen?: number; categoryVocab?: number;
  items: number[]; categories?: number[]; actions?: number[];
  next?: number[]; purchased?: 0 | 1; interests?: number[]; tier?: number;
}): UserExample {
  const L = o.maxLen ?? 8;
  const V = o.categoryVocab ?? 6;
  const pad = (xs: number[]) => { const a = new Int32Array(L); a.set(xs.slice(-L), L - Math.min(L, xs.length)); return a; };
  const n = Math.min(L, o.items.length);
  const interests = new Float32Array(V);
  for (const c of o.interests ?? []) interests[c] = 1;
  return {
    userKey: o.userKey ?? 'u',
    input: {
      item: pad(o.items), category: pad(o.categories ?? o.items.map(() => 1)),
      action: pad(o.actions ?? o.items.map(() => 1)), price: pad(o.items.map(() => 1)), gap: pad(o.items.map(() => 1)),
      text: new Int32Array(0), length: n,
    },
    labels: { purchased: o.purchased ?? 0, interests, tier: o.tier ?? 0, nextItems: o.next ?? [] },
  };
}


/** A model small enough for many short trainings in unit tests. */
export const TINY: ModelConfig = {
  itemVocab: 40, categoryVocab: 6, priceBuckets: 4, gapBuckets: 4, textVocab: 0, textTokens: 0,
  useActions: true, maxLen: 8, dModel: 16, layers: 1, heads: 2, ffDim: 32, dropout: 0.1, numTiers: 3,
};

/**
 * Learnable toy users: items walk +1 over the first `span` item ids from a random start (so the next item is
 * predictable from the last one), categories follow the items, and the labels follow the start item.
 */
export function cycleExamples(n: number, cfg: ModelConfig, seed: string, span = 16): UserExample[] {
  const rand = seedrandom(seed);
  const real = Math.min(span, cfg.itemVocab - 2);
  return Array.from({ length: n }, (_, u) => {
    const len = 3 + Math.floor(rand() * (cfg.maxLen - 2));
    const start = Math.floor(rand() * real);
    const items = Array.from({ length: len + 1 }, (_, i) => 2 + ((start + i) % real));
    const hist = items.slice(0, len);
    const cat = (it: number) => 1 + (it % (cfg.categoryVocab - 1));
    const e = handExample({
      userKey: `u${u}`, maxLen: cfg.maxLen, categoryVocab: cfg.categoryVocab,
      items: hist, categories: hist.map(cat), actions: hist.map((it) => 1 + (it % 4)),
      next: [items[len]], purchased: (start % 2) as 0 | 1, interests: [cat(items[len])], tier: start % cfg.numTiers,
    });
    return e;
  });
}
