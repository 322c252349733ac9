import { z } from 'zod';
import { FedProfileError } from '../shared/errors.js';
import type { ModelConfig } from '../shared/model/config.js';
import { SCORERS } from '../shared/model/next-item-statistics.js';
import { HEAD_GATE_SIZE } from '../shared/model/head-gate.js';
import { userFeatureLayout } from '../shared/model/user-features.js';

/**
 * How big a federation's model may be. Checked from the config alone, before round 0's weights are
 * allocated: a schema-valid config can describe billions of parameters, and building it would take the
 * coordinator (and every other federation on it) down. Operators raise these on purpose.
 */
export const ModelLimitsSchema = z.strictObject({
  maxParameters: z.number().int().min(1).max(1 << 28).default(25_000_000),
  /** Bytes of one checkpoint's weights (4 per parameter) plus its model.json. */
  maxBytes: z.number().int().min(1).max(2 ** 40).default(128 * 1024 * 1024),
});
export type ModelLimits = z.output<typeof ModelLimitsSchema>;
export const DEFAULT_MODEL_LIMITS: ModelLimits = ModelLimitsSchema.parse({});

/** Actions the profile model embeds (shared/data/events ACTIONS) plus PAD. */
const ACTION_ROWS = 7;

/**
 * Parameter count of the profile model a config describes, by arithmetic only (mirrors weightSpecs in
 * shared/model/profile-model.ts; a test keeps the two equal).
 */
export function parameterCount(cfg: ModelConfig): number {
  const d = cfg.dModel;
  let n = cfg.itemVocab * d;
  if (cfg.categoryVocab > 2) n += cfg.categoryVocab * d;
  if (cfg.useActions) n += ACTION_ROWS * d;
  if (cfg.priceBuckets > 0) n += cfg.priceBuckets * d;
  if (cfg.gapBuckets > 0) n += cfg.gapBuckets * d;
  if (cfg.textVocab > 0 && cfg.textTokens > 0) n += cfg.textVocab * d;
  n += cfg.maxLen * d + 2 * d;
  n += cfg.layers * (3 * d * d + 3 * d + d * d + d + 2 * d + d * cfg.ffDim + cfg.ffDim + cfg.ffDim * d + d + 2 * d);
  n += cfg.itemVocab + d + 1 + d * cfg.categoryVocab + cfg.categoryVocab + d * cfg.numTiers + cfg.numTiers;
  const wide = userFeatureLayout(cfg);
  n += wide.categoryBlocks + wide.global * (1 + cfg.numTiers);
  n += (d + 1) * (1 + cfg.categoryVocab + cfg.numTiers);
  const table = cfg.transitionItems ?? 0;
  // Transition statistics: two popularity vectors, two N×N tables, the category rows, the scorers' and the
  // head gate's validation sums.
  if (table > 0) n += 2 * cfg.itemVocab + 2 * table * table + cfg.categoryVocab * cfg.itemVocab + 2 * SCORERS.length + HEAD_GATE_SIZE;
  // LoRA: A [in, r] and B [r, out] for the qkv, out, ffn-in and ffn-out kernels of every block.
  const r = cfg.loraRank ?? 0;
  n += cfg.layers * r * ((d + 3 * d) + (d + d) + (d + cfg.ffDim) + (cfg.ffDim + d));
  return n;
}

/** Throws BAD_CONFIG (naming the limit and how to raise it) when the model is over the limits. */
export function assertModelWithinLimits(cfg: ModelConfig, limits: ModelLimits, exactParameters?: number): number {
  const parameters = exactParameters ?? parameterCount(cfg);
  if (parameters > limits.maxParameters) {
    throw new FedProfileError('BAD_CONFIG',
      `model: ${parameters} parameters exceed this coordinator's limit of ${limits.maxParameters} (raise it with --max-model-parameters)`,
      { field: 'model', parameters, limit: limits.maxParameters });
  }
  const bytes = parameters * 4;
  if (bytes > limits.maxBytes) {
    throw new FedProfileError('BAD_CONFIG',
      `model: ${bytes} bytes of weights exceed this coordinator's limit of ${limits.maxBytes} bytes (raise it with --max-model-bytes)`,
      { field: 'model', bytes, limit: limits.maxBytes });
  }
  return parameters;
}
