import type { EncodedSequence } from '../../shared/data/encoded.js';
import type { ModelConfig } from '../../shared/model/config.js';

/** Every field switched on, small enough to train in milliseconds. */
export const TINY: ModelConfig = {
  itemVocab: 40, categoryVocab: 6, priceBuckets: 5, gapBuckets: 5, textVocab: 20, textTokens: 3,
  useActions: true, maxLen: 8, dModel: 16, layers: 2, heads: 2, ffDim: 32, dropout: 0.1, numTiers: 3,
};

/** A left-padded sequence with `length` real events drawn from rng. */
export function randomSequence(cfg: ModelConfig, length: number, rng: () => number): EncodedSequence {
  const L = cfg.maxLen;
  const T = cfg.textTokens;
  const z = () => new Int32Array(L);
  const s: EncodedSequence = { item: z(), category: z(), action: z(), price: z(), gap: z(), text: new Int32Array(L * T), length };
  for (let l = L - length; l < L; l++) {
    s.item[l] = 2 + Math.floor(rng() * (cfg.itemVocab - 2));
    s.category[l] = 1 + (s.item[l]! % (cfg.categoryVocab - 1));
    s.action[l] = 1 + Math.floor(rng() * 6);
    s.price[l] = cfg.priceBuckets > 1 ? 1 + Math.floor(rng() * (cfg.priceBuckets - 1)) : 0;
    s.gap[l] = cfg.gapBuckets > 1 ? 1 + Math.floor(rng() * (cfg.gapBuckets - 1)) : 0;
    for (let t = 0; t < T; t++) s.text[l * T + t] = rng() < 0.5 ? 1 + Math.floor(rng() * (cfg.textVocab - 1)) : 0;
  }
  return s;
}
