import seedrandom from 'seedrandom';
import type { UserExample } from '../data/encoded.js';
import {
  hitAtK, logSoftmaxAt, nanMean, ndcgAtK, precisionAtK, rankOf, rocAuc, sampleNegatives, samplePopularNegatives, topK, type Scores,
} from './metrics.js';

/**
 * The metric keys every evaluation (model or baseline) reports, so they can be printed side by side.
 * A metric the examples cannot measure is NaN (written as null in JSON, shown as n/a), never a perfect
 * score: AUC when every label has one class (e.g. no purchases), interest precision without interest
 * labels, tier accuracy when no example has a price-derived tier.
 */
export interface EvaluationMetrics {
  ndcg10: number;
  hr10: number;
  ndcg10Sampled: number;
  hr10Sampled: number;
  auc: number;
  interestP3: number;
  tierAcc: number;
  /** Mean next-item cross-entropy (nats) over users with a next item. */
  loss: number;
  /** Users scored. */
  n: number;
  /** The learned part alone and the transition statistics alone, when the scorer fuses the two. */
  ndcg10Model?: number;
  hr10Model?: number;
  ndcg10Statistics?: number;
  hr10Statistics?: number;
}

/** What any predictor (the model or a baseline) says about one user, in plain arrays. */
export interface UserPrediction {
  /** One score per item id (length itemVocab); ids 0 (PAD) and 1 (MASK) are never ranked. */
  itemScores: Scores;
  /** Whether itemScores are logits (so a cross-entropy can be taken) or just a ranking. */
  itemScoresAreLogits: boolean;
  /** Next-item log-probability when itemScores are not logits (e.g. a smoothed popularity distribution). */
  nextItemLogProb?: number;
  propensity: number;
  /** One score per category id (length categoryVocab); id 0 (PAD) is never ranked. */
  interestScores: Scores;
  tier: number;
  /** The parts of a fused next-item scorer, each ranked the same way as itemScores. */
  itemScoreParts?: { model: Scores; statistics: Scores };
}

export interface ScoringOptions {
  k: number;
  seed: number;
  itemVocab: number;
  negatives?: number;
  /** Ground-truth interest sets by userKey (e.g. a generator's latent interests); defaults to the labels. */
  interestTruth?: ReadonlyMap<string, ReadonlySet<number>>;
  /** Leave the user's history items out of the ranking (the target itself is always ranked). */
  excludeHistory?: boolean;
  /** Draw the sampled negatives by these weights (training popularity) instead of uniformly. */
  negativeWeights?: ArrayLike<number>;
}

/** The item ids a ranking leaves out for one example: its whole history, or the encoded window. */
export function historySet(example: UserExample): Set<number> {
  const ids = example.history ?? example.input.item;
  const out = new Set<number>();
  for (let i = 0; i < ids.length; i++) if (ids[i]! >= FIRST_ITEM) out.add(ids[i]!);
  return out;
}

const FIRST_ITEM = 2; // 0 = PAD, 1 = MASK
const FIRST_CATEGORY = 1; // 0 = PAD

/**
 * Accumulates per-user metrics. Sampled negatives are drawn from a stream keyed by (seed, example index),
 * so the model and every baseline are ranked against exactly the same 100 negatives per user.
 */
export class MetricAccumulator {
  private readonly ndcg: number[] = [];
  private readonly hr: number[] = [];
  private readonly ndcgS: number[] = [];
  private readonly hrS: number[] = [];
  private readonly ce: number[] = [];
  private readonly parts = { ndcgModel: [] as number[], hrModel: [] as number[], ndcgStats: [] as number[], hrStats: [] as number[] };
  private readonly propensity: number[] = [];
  private readonly purchased: number[] = [];
  private readonly p3: number[] = [];
  private tierHits = 0;
  private tierScored = 0;
  private n = 0;

  constructor(private readonly opts: ScoringOptions) {}

  add(index: number, example: UserExample, pred: UserPrediction): void {
    const { k, seed, itemVocab } = this.opts;
    this.n++;
    const target = example.labels.nextItems[0];
    if (target !== undefined && target >= FIRST_ITEM && target < itemVocab) {
      const exclude = this.opts.excludeHistory ? historySet(example) : undefined;
      exclude?.delete(target);
      const rank = rankOf(pred.itemScores, target, undefined, FIRST_ITEM, exclude);
      this.ndcg.push(ndcgAtK(rank, k));
      this.hr.push(hitAtK(rank, k));
      if (pred.itemScoreParts) {
        const rm = rankOf(pred.itemScoreParts.model, target, undefined, FIRST_ITEM, exclude);
        const rs = rankOf(pred.itemScoreParts.statistics, target, undefined, FIRST_ITEM, exclude);
        this.parts.ndcgModel.push(ndcgAtK(rm, k));
        this.parts.hrModel.push(hitAtK(rm, k));
        this.parts.ndcgStats.push(ndcgAtK(rs, k));
        this.parts.hrStats.push(hitAtK(rs, k));
      }
      const rand = seedrandom(`${seed}/neg/${index}`);
      const negCount = this.opts.negatives ?? 100;
      const negs = this.opts.negativeWeights
        ? samplePopularNegatives(target, this.opts.negativeWeights, negCount, rand, FIRST_ITEM, exclude)
        : sampleNegatives(target, itemVocab, negCount, rand, FIRST_ITEM);
      const rankS = rankOf(pred.itemScores, target, negs);
      this.ndcgS.push(ndcgAtK(rankS, k));
      this.hrS.push(hitAtK(rankS, k));
      const logp = pred.itemScoresAreLogits ? logSoftmaxAt(pred.itemScores, target, FIRST_ITEM) : pred.nextItemLogProb;
      if (logp !== undefined) this.ce.push(-logp);
    }
    this.propensity.push(pred.propensity);
    this.purchased.push(example.labels.purchased);
    const truth = this.opts.interestTruth?.get(example.userKey) ?? multiHotToSet(example.labels.interests);
    const ranked = topK(pred.interestScores, 3, FIRST_CATEGORY);
    this.p3.push(precisionAtK(ranked, truth, 3));
    // A default tier (no prices anywhere) is not a label: scoring it would reward predicting the default.
    if (example.labels.tierKnown !== false) {
      this.tierScored++;
      if (pred.tier === example.labels.tier) this.tierHits++;
    }
  }

  result(): EvaluationMetrics {
    return {
      ndcg10: nanMean(this.ndcg),
      hr10: nanMean(this.hr),
      ndcg10Sampled: nanMean(this.ndcgS),
      hr10Sampled: nanMean(this.hrS),
      auc: rocAuc(this.propensity, this.purchased),
      interestP3: nanMean(this.p3),
      tierAcc: this.tierScored === 0 ? Number.NaN : this.tierHits / this.tierScored,
      loss: nanMean(this.ce),
      n: this.n,
      ...(this.parts.ndcgModel.length > 0 ? {
        ndcg10Model: nanMean(this.parts.ndcgModel), hr10Model: nanMean(this.parts.hrModel),
        ndcg10Statistics: nanMean(this.parts.ndcgStats), hr10Statistics: nanMean(this.parts.hrStats),
      } : {}),
    };
  }
}

export function multiHotToSet(multiHot: ArrayLike<number>): Set<number> {
  const s = new Set<number>();
  for (let i = FIRST_CATEGORY; i < multiHot.length; i++) if (multiHot[i] > 0.5) s.add(i);
  return s;
}
