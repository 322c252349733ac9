import { z } from 'zod';

/**
 * The one model configuration used by simulation, coordinator initialisation, client training and local
 * profiling. Vocabulary sizes include the reserved ids: item 0 = PAD, 1 = MASK; every other field uses 0 = PAD.
 */
export const ModelConfigSchema = z.strictObject({
  itemVocab: z.number().int().min(3).max(2_000_000),
  categoryVocab: z.number().int().min(2).max(100_000),
  /** Price buckets (log-spaced) + PAD; 0 disables the field. */
  priceBuckets: z.number().int().min(0).max(1000),
  /** Time-gap buckets (log-spaced seconds since the previous event) + PAD; 0 disables the field. */
  gapBuckets: z.number().int().min(0).max(1000),
  /** Hashed word-piece vocabulary for search/review text + PAD; 0 disables the field. */
  textVocab: z.number().int().min(0).max(1_000_000),
  /** Word pieces kept per event; mean-pooled into one vector. */
  textTokens: z.number().int().min(0).max(64),
  /** Whether the action embedding is used (the bench config turns all side fields off). */
  useActions: z.boolean(),
  maxLen: z.number().int().min(2).max(1024),
  dModel: z.number().int().min(4).max(4096),
  layers: z.number().int().min(1).max(48),
  heads: z.number().int().min(1).max(64),
  ffDim: z.number().int().min(4).max(16384),
  dropout: z.number().min(0).max(0.9),
  /** Spending tiers predicted by the tier head. */
  numTiers: z.number().int().min(2).max(16),
  /**
   * Items covered by the federated transition table (the N most popular: N² weights, see
   * next-item-statistics.ts); 0 or absent turns the statistics and their fusion off.
   */
  transitionItems: z.number().int().min(0).max(4096).optional(),
  /**
   * Causal attention (SASRec): each event sees only earlier ones, every position learns to predict the next
   * item with full-softmax cross-entropy, and the latest event's state predicts what comes next. Absent or
   * false: bidirectional attention with the Cloze task and a MASK appended for prediction (BERT4Rec).
   */
  causal: z.boolean().optional(),
  /**
   * LoRA rank r: every attention and FFN kernel W gets trainable factors A [in, r], B [r, out] and is used as
   * W + A·B (B starts at 0, so the model starts as without them). 0 or absent = no LoRA weights.
   */
  loraRank: z.number().int().min(0).max(256).optional(),
  /**
   * Bottleneck adapter size r (Houlsby et al. 2019): after the attention and the FFN sublayer of every block,
   * h + up(gelu(down(h))) with down [d, r] and up [r, d] (up starts at 0, so the model starts as without
   * them). 0 or absent = no adapter weights.
   */
  adapterSize: z.number().int().min(0).max(4096).optional(),
}).refine((c) => c.dModel % c.heads === 0, { message: 'dModel must be divisible by heads', path: ['heads'] });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;

/** Exactly the shapes of ../shared/reference/bert4rec_torch.py (items only, no side fields, dropout 0). */
export const BERT4REC_64: ModelConfig = {
  itemVocab: 5002, categoryVocab: 2, priceBuckets: 0, gapBuckets: 0, textVocab: 0, textTokens: 0,
  useActions: false, maxLen: 50, dModel: 64, layers: 2, heads: 2, ffDim: 256, dropout: 0, numTiers: 4,
};

/** Default profile model: small enough to train on a laptop CPU in a demo, big enough to beat baselines. */
export const PROFILE_SMALL: ModelConfig = {
  itemVocab: 2048, categoryVocab: 33, priceBuckets: 16, gapBuckets: 16, textVocab: 1024, textTokens: 4,
  useActions: true, maxLen: 50, dModel: 64, layers: 2, heads: 2, ffDim: 128, dropout: 0.1, numTiers: 4,
};
