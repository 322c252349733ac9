import * as tf from '@tensorflow/tfjs';
import type { EncodedSequence } from '../data/encoded.js';
import { FedProfileError } from '../errors.js';
import { ACTIONS } from '../data/events.js';
import type { ModelConfig } from './config.js';
import { userFeatureLayout, userFeatures } from './user-features.js';

export const PAD_ID = 0;
export const MASK_ID = 1;

/** Model-ready tensors of B encoded sequences: int32 [B,L] per field, text [B,L,T] (T may be 0). */
export interface ModelBatch {
  item: tf.Tensor2D;
  category: tf.Tensor2D;
  action: tf.Tensor2D;
  price: tf.Tensor2D;
  gap: tf.Tensor2D;
  text: tf.Tensor3D;
  /** Explicit per-user features for the wide half of the heads, float32 [B, F] (see user-features.ts). */
  features: tf.Tensor2D;
  size: number;
}

function checkSequence(seq: EncodedSequence, cfg: ModelConfig, index: number): void {
  const L = cfg.maxLen;
  const fields = ['item', 'category', 'action', 'price', 'gap'] as const;
  for (const f of fields) {
    if (seq[f].length !== L) {
      throw new FedProfileError('BAD_INPUT', `Sequence ${index}: field "${f}" has length ${seq[f].length}, expected maxLen ${L}.`);
    }
  }
  if (seq.text.length !== L * cfg.textTokens && seq.text.length !== 0) {
    throw new FedProfileError('BAD_INPUT', `Sequence ${index}: text has ${seq.text.length} ids, expected maxLen*textTokens = ${L * cfg.textTokens} (or 0).`);
  }
  for (let l = 0; l < L; l++) {
    const id = seq.item[l]!;
    if (id < 0 || id >= cfg.itemVocab) {
      throw new FedProfileError('BAD_INPUT', `Sequence ${index}: item id ${id} at position ${l} is outside [0, ${cfg.itemVocab}).`);
    }
  }
}

/** Packs sequences into int32 tensors; ids of disabled or out-of-vocabulary side fields are clamped to PAD. */
export function toBatch(seqs: readonly EncodedSequence[], cfg: ModelConfig): ModelBatch {
  const B = seqs.length;
  if (B === 0) throw new FedProfileError('BAD_INPUT', 'Cannot build a batch from zero sequences.');
  const L = cfg.maxLen;
  const T = cfg.textTokens;
  const item = new Int32Array(B * L);
  const category = new Int32Array(B * L);
  const action = new Int32Array(B * L);
  const price = new Int32Array(B * L);
  const gap = new Int32Array(B * L);
  const text = new Int32Array(B * L * T);
  const clampInto = (dst: Int32Array, src: Int32Array, off: number, vocab: number) => {
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      dst[off + i] = v > 0 && v < vocab ? v : PAD_ID;
    }
  };
  seqs.forEach((s, b) => {
    checkSequence(s, cfg, b);
    item.set(s.item, b * L);
    clampInto(category, s.category, b * L, cfg.categoryVocab);
    clampInto(action, s.action, b * L, ACTIONS.length + 1);
    clampInto(price, s.price, b * L, cfg.priceBuckets);
    clampInto(gap, s.gap, b * L, cfg.gapBuckets);
    if (T > 0 && s.text.length > 0) clampInto(text, s.text, b * L * T, cfg.textVocab);
  });
  return {
    item: tf.tensor2d(item, [B, L], 'int32'),
    category: tf.tensor2d(category, [B, L], 'int32'),
    action: tf.tensor2d(action, [B, L], 'int32'),
    price: tf.tensor2d(price, [B, L], 'int32'),
    gap: tf.tensor2d(gap, [B, L], 'int32'),
    text: tf.tensor3d(text, [B, L, T], 'int32'),
    features: tf.tensor2d(userFeatures(seqs, cfg), [B, userFeatureLayout(cfg).size], 'float32'),
    size: B,
  };
}

export function disposeBatch(b: ModelBatch): void {
  tf.dispose([b.item, b.category, b.action, b.price, b.gap, b.text, b.features]);
}

/**
 * Input for next-item prediction: drop the oldest event, shift everything left by one and put a MASK token
 * (item 1, every side field 0) at the last position, whose output is then the next-item prediction.
 */
export function withNextMask(seq: EncodedSequence, cfg: ModelConfig): EncodedSequence {
  const L = cfg.maxLen;
  const T = cfg.textTokens;
  const shift = (a: Int32Array, last: number): Int32Array => {
    const out = new Int32Array(L);
    out.set(a.subarray(1, L), 0);
    out[L - 1] = last;
    return out;
  };
  const text = new Int32Array(seq.text.length);
  if (seq.text.length === L * T && T > 0) text.set(seq.text.subarray(T), 0);
  const item = shift(seq.item, MASK_ID);
  let length = 0;
  for (let l = 0; l < L; l++) if (item[l] !== PAD_ID) length++;
  return {
    item,
    category: shift(seq.category, 0),
    action: shift(seq.action, 0),
    price: shift(seq.price, 0),
    gap: shift(seq.gap, 0),
    text,
    length,
  };
}

/**
 * The input whose last position predicts the next item: the sequence itself under causal attention (its
 * latest event's state looks only backwards), else the sequence with a MASK appended (withNextMask).
 */
export function nextItemInput(seq: EncodedSequence, cfg: ModelConfig): EncodedSequence {
  return cfg.causal ? seq : withNextMask(seq, cfg);
}

/**
 * Next-item targets for causal training: every real position predicts the item after it; the latest
 * position predicts `next` (the example's first label item) when one is given (>= 2). With share < 1 only that
 * share of the earlier positions is kept, drawn from `rng`. Flat b·L + l positions, increasing.
 */
export function causalTargets(
  seqs: readonly EncodedSequence[], next: ArrayLike<number> | undefined, share = 1, rng: () => number = Math.random,
): { positions: Int32Array; targets: Int32Array } {
  const positions: number[] = [];
  const targets: number[] = [];
  seqs.forEach((seq, b) => {
    const L = seq.item.length;
    for (let l = 0; l < L; l++) {
      if (seq.item[l]! < 2) continue;
      const target = l + 1 < L ? seq.item[l + 1]! : (next?.[b] ?? 0);
      if (target < 2) continue;
      // A share of the earlier positions keeps the output softmax cheap; the latest one always trains.
      if (share < 1 && l + 1 < L && !(rng() < share)) continue;
      positions.push(b * L + l);
      targets.push(target);
    }
  });
  return { positions: Int32Array.from(positions), targets: Int32Array.from(targets) };
}

/**
 * BERT4Rec Cloze masking: each real item (id >= 2) is masked with probability maskProb, and at least one per
 * sequence that has any real item. A masked position gets item MASK and all side fields PAD (0), exactly
 * like the next-item query built by withNextMask, so pre-training and inference see the same token.
 * positions are flat (b*L + l) in increasing order; targets are the original item ids.
 */
export function clozeMask(
  seqs: readonly EncodedSequence[],
  maskProb: number,
  rng: () => number,
): { inputs: EncodedSequence[]; sequences: EncodedSequence[]; positions: Int32Array; targets: Int32Array } {
  if (!(maskProb > 0 && maskProb <= 1)) {
    throw new FedProfileError('BAD_INPUT', `maskProb must be in (0, 1], got ${maskProb}.`);
  }
  const positions: number[] = [];
  const targets: number[] = [];
  const inputs = seqs.map((seq, b) => {
    const L = seq.item.length;
    const T = L > 0 ? seq.text.length / L : 0;
    const real: number[] = [];
    for (let l = 0; l < L; l++) if (seq.item[l]! >= 2) real.push(l);
    const chosen = real.filter(() => rng() < maskProb);
    if (chosen.length === 0 && real.length > 0) chosen.push(real[Math.min(real.length - 1, Math.floor(rng() * real.length))]!);
    const out: EncodedSequence = {
      item: seq.item.slice(), category: seq.category.slice(), action: seq.action.slice(),
      price: seq.price.slice(), gap: seq.gap.slice(), text: seq.text.slice(), length: seq.length,
    };
    for (const l of chosen) {
      positions.push(b * L + l);
      targets.push(seq.item[l]!);
      out.item[l] = MASK_ID;
      out.category[l] = 0;
      out.action[l] = 0;
      out.price[l] = 0;
      out.gap[l] = 0;
      if (T > 0) out.text.fill(0, l * T, (l + 1) * T);
    }
    return out;
  });
  // `sequences` is an alias of `inputs`.
  return { inputs, sequences: inputs, positions: Int32Array.from(positions), targets: Int32Array.from(targets) };
}
