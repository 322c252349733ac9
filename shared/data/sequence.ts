import type { ModelConfig } from '../model/config.js';
import { gapBucket, priceBucket } from './buckets.js';
import type { EncodedSequence } from './encoded.js';
import { ACTIONS, type Action, type BehaviourEvent } from './events.js';
import type { Hasher } from './hashing.js';

/** itemId of events that concern no single item (a search); excluded from next-item labels. */
export const NO_ITEM = '-';

const ACTION_INDEX = new Map<Action, number>(ACTIONS.map((a, i) => [a, i + 1]));

export function emptySequence(cfg: ModelConfig): EncodedSequence {
  return {
    item: new Int32Array(cfg.maxLen), category: new Int32Array(cfg.maxLen), action: new Int32Array(cfg.maxLen),
    price: new Int32Array(cfg.maxLen), gap: new Int32Array(cfg.maxLen), text: new Int32Array(cfg.maxLen * cfg.textTokens),
    length: 0,
  };
}

/**
 * Encodes a user's history (oldest first) into the model's fixed-length form: the most recent maxLen events,
 * left-padded so the last event sits at index maxLen-1. Side fields a config disables (priceBuckets,
 * gapBuckets, textVocab/textTokens = 0) stay 0. The gap of the first kept event is measured from the event
 * before it when the history was truncated, else it is 0.
 */
export function encodeSequence(events: readonly BehaviourEvent[], hasher: Hasher, cfg: ModelConfig): EncodedSequence {
  const seq = emptySequence(cfg);
  const n = Math.min(events.length, cfg.maxLen);
  const start = events.length - n;
  const offset = cfg.maxLen - n;
  const useText = cfg.textTokens > 0 && cfg.textVocab > 1;
  for (let i = 0; i < n; i++) {
    const e = events[start + i];
    const pos = offset + i;
    seq.item[pos] = hasher.item(e.itemId);
    seq.category[pos] = hasher.category(e.categoryId);
    seq.action[pos] = ACTION_INDEX.get(e.action) ?? 0;
    seq.price[pos] = priceBucket(e.price, cfg.priceBuckets);
    const prev = start + i > 0 ? events[start + i - 1] : undefined;
    seq.gap[pos] = gapBucket(prev ? (e.timestamp - prev.timestamp) / 1000 : 0, cfg.gapBuckets);
    if (useText && e.text) {
      const words = hasher.text(e.text, cfg.textTokens);
      seq.text.set(words, pos * cfg.textTokens);
    }
  }
  seq.length = n;
  return seq;
}
