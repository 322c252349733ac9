import * as tf from '@tensorflow/tfjs';
import type { EncodedSequence } from '../data/encoded.js';
import { PAD_ID, disposeBatch, toBatch } from './batch.js';
import type { ProfileModel } from './profile-model.js';

/** The sequence with the given positions deleted and the rest left-padded again (older events move right). */
export function removeEvents(seq: EncodedSequence, positions: ReadonlySet<number>): EncodedSequence {
  const L = seq.item.length;
  const T = L > 0 ? seq.text.length / L : 0;
  const out: EncodedSequence = {
    item: new Int32Array(L), category: new Int32Array(L), action: new Int32Array(L), price: new Int32Array(L),
    gap: new Int32Array(L), text: new Int32Array(seq.text.length), length: 0,
  };
  let w = L - 1;
  for (let l = L - 1; l >= 0; l--) {
    if (seq.item[l] === PAD_ID || positions.has(l)) continue;
    out.item[w] = seq.item[l]!;
    out.category[w] = seq.category[l]!;
    out.action[w] = seq.action[l]!;
    out.price[w] = seq.price[l]!;
    out.gap[w] = seq.gap[l]!;
    if (T > 0) out.text.set(seq.text.subarray(l * T, (l + 1) * T), w * T);
    out.length++;
    w--;
  }
  return out;
}

/** The profile heads as probabilities, per user: interests [C] (sigmoid), propensity, tier [T] (softmax). */
export interface HeadProbabilities { interests: Float32Array; propensity: number; tier: Float32Array }

/** Heads only (no next-item pass), in batches. */
export function headProbabilities(model: ProfileModel, seqs: readonly EncodedSequence[], batchSize = 64): HeadProbabilities[] {
  const { categoryVocab: C, numTiers: T } = model.config;
  const out: HeadProbabilities[] = [];
  for (let s = 0; s < seqs.length; s += batchSize) {
    const chunk = seqs.slice(s, s + batchSize);
    const batch = toBatch(chunk, model.config);
    try {
      const ts = tf.tidy(() => {
        const { logits } = model.profileHeads(batch, false);
        return [tf.sigmoid(logits.interests), tf.sigmoid(logits.propensity), tf.softmax(logits.tier)];
      });
      const [i, p, t] = ts.map((x) => x.dataSync() as Float32Array);
      tf.dispose(ts);
      chunk.forEach((_, b) => out.push({ interests: i!.slice(b * C, (b + 1) * C), propensity: p![b]!, tier: t!.slice(b * T, (b + 1) * T) }));
    } finally {
      disposeBatch(batch);
    }
  }
  return out;
}

/** How far a profile moved: mean |Δ| over real interest categories, |Δ propensity|, tier total variation, and their mean. */
export function headsDistance(a: HeadProbabilities, b: HeadProbabilities): { interests: number; propensity: number; tier: number; combined: number } {
  let di = 0;
  for (let c = PAD_ID + 1; c < a.interests.length; c++) di += Math.abs(a.interests[c]! - b.interests[c]!);
  di /= Math.max(1, a.interests.length - 1);
  let dt = 0;
  for (let t = 0; t < a.tier.length; t++) dt += Math.abs(a.tier[t]! - b.tier[t]!);
  dt /= 2;
  const dp = Math.abs(a.propensity - b.propensity);
  return { interests: di, propensity: dp, tier: dt, combined: (di + dp + dt) / 3 };
}

/**
 * Occlusion saliency [B*L]: how much each event moves the profile heads when it alone is removed
 * (headsDistance), normalised to sum 1 over the user's real events (uniform when nothing moves); 0 at PAD.
 * Faithful to the heads by construction, wide part included, which attention weights are not; it costs one
 * heads-only pass per event.
 */
export function occlusionSaliency(model: ProfileModel, seqs: readonly EncodedSequence[], batchSize = 256): Float32Array {
  const L = model.config.maxLen;
  const out = new Float32Array(seqs.length * L);
  const base = headProbabilities(model, seqs, batchSize);
  const variants: EncodedSequence[] = [];
  const owner: { b: number; l: number }[] = [];
  seqs.forEach((s, b) => {
    for (let l = 0; l < L; l++) {
      if (s.item[l] === PAD_ID) continue;
      variants.push(removeEvents(s, new Set([l])));
      owner.push({ b, l });
    }
  });
  const moved = headProbabilities(model, variants, batchSize);
  moved.forEach((m, j) => {
    const { b, l } = owner[j]!;
    out[b * L + l] = headsDistance(base[b]!, m).combined;
  });
  seqs.forEach((s, b) => {
    const row = out.subarray(b * L, (b + 1) * L);
    let sum = 0;
    for (let l = 0; l < L; l++) sum += row[l]!;
    const real = s.item.reduce((n, id) => n + (id !== PAD_ID ? 1 : 0), 0);
    for (let l = 0; l < L; l++) {
      if (s.item[l] === PAD_ID) continue;
      row[l] = sum > 0 ? row[l]! / sum : 1 / real;
    }
  });
  return out;
}
