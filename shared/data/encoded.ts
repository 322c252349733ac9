/**
 * The model-ready form of one user's history: hashed ids only, fixed length, left-padded so the most recent
 * event is always at index maxLen-1. Produced on the client from raw events (shared/data) and consumed by the
 * model (shared/model). Nothing in here can be mapped back to a raw id without the merchant's hashing key.
 */
export interface EncodedSequence {
  /** Item ids in [2, itemVocab); 0 = PAD, 1 = MASK. Length maxLen. */
  item: Int32Array;
  /** Category ids in [1, categoryVocab); 0 = PAD. */
  category: Int32Array;
  /** Action index + 1 (see ACTIONS); 0 = PAD. */
  action: Int32Array;
  /** Price bucket in [1, priceBuckets); 0 = PAD or unknown. */
  price: Int32Array;
  /** Time-gap bucket in [1, gapBuckets); 0 = PAD. */
  gap: Int32Array;
  /** maxLen * textTokens hashed word-piece ids in [1, textVocab); 0 = none. */
  text: Int32Array;
  /** Number of real (non-PAD) events. */
  length: number;
}

/**
 * Fine-tuning labels derived from the same user's *later* events (the label window), so no annotation is
 * needed: did they purchase, which categories did they engage with, which spending tier, which items next.
 */
export interface UserLabels {
  purchased: 0 | 1;
  /** Multi-hot over category ids (length categoryVocab). */
  interests: Float32Array;
  /** Spending tier index in [0, numTiers). */
  tier: number;
  /**
   * false when no price was seen in the label window or the history, so `tier` is only the default middle
   * tier and carries no information (tier accuracy is then not measurable). Absent = known.
   */
  tierKnown?: boolean;
  /** Hashed item ids of the label window, in time order (first = the next item). */
  nextItems: number[];
}

export interface UserExample {
  /** Keyed hash of the userId: stable per merchant, meaningless elsewhere. */
  userKey: string;
  input: EncodedSequence;
  labels: UserLabels;
  /**
   * Hashed item ids of the whole history behind `input` (oldest first, not truncated to maxLen): the items a
   * ranking excludes as already seen, and the sequence transition statistics are counted on. Local only.
   */
  history?: Int32Array;
}
